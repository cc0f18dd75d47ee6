"""The admin's registers: organisations and information sharing agreements, their documents, notices and report."""
