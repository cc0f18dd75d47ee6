"""Tables (SQLModel) and API schemas (pydantic); `app.models.tables` registers every table."""
