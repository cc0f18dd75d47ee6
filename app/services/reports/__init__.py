"""Reports for the guardian and auditors: the decision log, a person's disclosures, FHIR exports."""
