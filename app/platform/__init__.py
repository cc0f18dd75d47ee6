"""The platform under the service: settings, the database and its driver, logs, traces, metrics, the server."""
