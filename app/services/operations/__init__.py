"""Running the service: readiness and the schema's revision."""
