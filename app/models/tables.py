"""Every table, imported once so that SQLModel.metadata is complete (Alembic, tests)."""

from app.models.agreement import SharingAgreement
from app.models.organisation import Organisation
from app.models.sharing_request import Decision, RequestSubject, RequestVersion, SharingRequest

__all__ = ["Decision", "Organisation", "RequestSubject", "RequestVersion", "SharingAgreement", "SharingRequest"]
