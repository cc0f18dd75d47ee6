"""How much evidence one caller may pile onto the service: the attachments one request may hold (their number and
their bytes in all) and the bytes of evidence one organisation may attach in a day.

A request's limits are a state of the request (it is full: 409, and waiting changes nothing); the daily one is a
budget over time like the rate limits (429 with Retry-After: midnight in London). Both are checked twice: before the
body is read, so a caller already at a limit sends nothing more, and inside the transaction that records the upload,
with its size, after taking the locks of `hold`, so that two uploads at once cannot both take the last slot.
"""

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import func, select, text
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, ProblemError
from app.models.attachment import Attachment
from app.models.base import LONDON
from app.models.sharing_request import SharingRequest
from app.platform.config import Settings

# First key of the transaction-scoped advisory lock that serialises one organisation's uploads on PostgreSQL ("ATTQ").
UPLOAD_LOCK_KEY = 0x41545451


class Quota(StrEnum):
    """Which limit an upload reached: each is the setting of the same name (CALDICOTT_ in capitals before it)."""

    ATTACHMENTS_PER_REQUEST = "attachments_per_request"
    ATTACHMENT_BYTES_PER_REQUEST = "attachment_bytes_per_request"
    ATTACHMENT_BYTES_PER_ORG_PER_DAY = "attachment_bytes_per_org_per_day"


@dataclass(frozen=True, slots=True)
class Limits:
    """The three limits, from the settings."""

    per_request: int
    bytes_per_request: int
    bytes_per_org_per_day: int


def limits_from(settings: Settings) -> Limits:
    return Limits(
        settings.attachments_per_request,
        settings.attachment_bytes_per_request,
        settings.attachment_bytes_per_org_per_day,
    )


class AttachmentQuotaReached(Conflict):
    """The request holds as many attachments, or as many bytes of them, as it may."""

    title = "Attachment quota reached"
    slug = "attachment-quota"


class AttachmentDayQuotaReached(ProblemError):
    """The uploading organisation has attached as many bytes of evidence today as it may."""

    status_code = 429
    title = "Daily attachment quota reached"
    slug = "attachment-day-quota"


def _members(quota: Quota, limit: int, used: int) -> dict[str, object]:
    return {"quota": str(quota), "quota_limit": limit, "quota_used": used}


def london_day(now: datetime) -> tuple[datetime, datetime]:
    """The London day holding `now`: its first instant and the next day's, both aware."""
    today = now.astimezone(LONDON).date()
    return (
        datetime.combine(today, time(), tzinfo=LONDON),
        datetime.combine(today + timedelta(days=1), time(), tzinfo=LONDON),
    )


async def hold(*, session: AsyncSession, org: str, request: SharingRequest) -> None:
    """Lock what the counts are of, for the rest of the transaction: the uploading organisation (an advisory lock on
    PostgreSQL) and then the request's row. Always in that order, so two uploads never wait for each other in a ring.

    FOR NO KEY UPDATE (key_share), not FOR UPDATE: an attachment row inserted holds a KEY SHARE lock on its request
    through the foreign key, which FOR UPDATE would wait for. SQLite needs neither: BEGIN IMMEDIATE serialises writers.
    """
    if (await session.connection()).dialect.name == "postgresql":
        await session.exec(
            text("SELECT pg_advisory_xact_lock(:key, hashtext(:org))").bindparams(key=UPLOAD_LOCK_KEY, org=org)
        )
    await session.refresh(request, with_for_update={"key_share": True})


async def check(*, session: AsyncSession, limits: Limits, request_id: str, org: str, size: int, now: datetime) -> None:
    """Refuse an upload of `size` bytes by `org` to the request if it would pass a limit: 409 for the request's,
    429 for the organisation's day."""
    count, used = (
        await session.exec(
            select(func.count(), func.coalesce(func.sum(Attachment.size), 0)).where(  # type: ignore[call-overload]
                col(Attachment.request_id) == request_id
            )
        )
    ).one()
    if count >= limits.per_request:
        raise AttachmentQuotaReached(
            f"this request holds {count} attachments, the most one may hold "
            f"(CALDICOTT_ATTACHMENTS_PER_REQUEST = {limits.per_request})",
            extensions=_members(Quota.ATTACHMENTS_PER_REQUEST, limits.per_request, count),
        )
    if used + size > limits.bytes_per_request:
        raise AttachmentQuotaReached(
            f"this request's attachments hold {used} bytes; this upload would take them past the "
            f"{limits.bytes_per_request} bytes one request may hold (CALDICOTT_ATTACHMENT_BYTES_PER_REQUEST)",
            extensions=_members(Quota.ATTACHMENT_BYTES_PER_REQUEST, limits.bytes_per_request, used),
        )
    start, midnight = london_day(now)
    today = (
        await session.exec(
            select(func.coalesce(func.sum(Attachment.size), 0)).where(  # type: ignore[call-overload]
                col(Attachment.uploaded_by_org) == org,
                col(Attachment.request_id).is_not(None),
                col(Attachment.uploaded_at) >= start,
            )
        )
    ).one()[0]
    if today + size > limits.bytes_per_org_per_day:
        retry = max(1, math.ceil((midnight - now).total_seconds()))
        raise AttachmentDayQuotaReached(
            f"{org} has attached {today} bytes of evidence today; this upload would take it past its "
            f"{limits.bytes_per_org_per_day} bytes a day (CALDICOTT_ATTACHMENT_BYTES_PER_ORG_PER_DAY); the day ends "
            f"at midnight in London, in {retry} s",
            headers={"Retry-After": str(retry)},
            extensions=_members(Quota.ATTACHMENT_BYTES_PER_ORG_PER_DAY, limits.bytes_per_org_per_day, today),
        )
