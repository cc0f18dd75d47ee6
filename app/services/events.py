"""What happened, told once: each change or read is recorded here in the caller's transaction.

Every use case calls these functions at the moment something happens; this module
fans the event out to the audit trail and the webhook outbox, so that the change,
its audit event and its outbox event commit together or not at all.
"""

from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal
from app.models.sharing_request import Decision, SharingRequest


class RequestAction(StrEnum):
    """Things that happen to a sharing request."""

    SUBMITTED = "submitted"
    CLAIMED = "claimed"
    RELEASED = "released"
    CLAIM_EXPIRED = "claim_expired"
    REVIEWED = "reviewed"
    INFORMATION_REQUESTED = "information_requested"
    AMENDED = "amended"
    WITHDRAWN = "withdrawn"
    RETROSPECTIVE_REVIEWED = "retrospective_reviewed"
    READ = "read"
    HISTORY_READ = "history_read"


class AdminAction(StrEnum):
    """Things an admin does to organisations and agreements."""

    ORGANISATION_REGISTERED = "organisation_registered"
    ORGANISATION_CHANGED = "organisation_changed"
    AGREEMENT_REGISTERED = "agreement_registered"
    AGREEMENT_CHANGED = "agreement_changed"


async def request_changed(
    *,
    session: AsyncSession,
    actor: Principal | None,
    request: SharingRequest,
    action: RequestAction,
    decision: Decision | None = None,
) -> None:
    """A request changed state (actor None: the service itself, e.g. an expired claim)."""


async def request_read(*, session: AsyncSession, actor: Principal, request: SharingRequest, action: RequestAction) -> None:
    """Someone read a request's details or history."""


async def admin_changed(*, session: AsyncSession, actor: Principal, action: AdminAction, target_id: str) -> None:
    """An admin registered or changed an organisation or agreement."""
