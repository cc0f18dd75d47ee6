"""What the database says now, for the scrape: the guardian queue, disclosures overdue, the audit trail's signing lag,
the webhook backlog and how long the active policy's calendar runs.

These describe the database, not a process: the process that answers a scrape reads them then, so a pod of
several server processes reports each once (app/platform/observability.py), never once per process.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.base import LONDON
from app.models.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.services.audit import checkpoints
from app.services.audit.checkpoints import SigningLag
from app.services.disclosures.reading import overdue_count
from app.services.policies.calendar import calendar_check
from app.services.policies.registry import PolicyRegistry
from app.services.review.queue_status import QueueCounts, queue_counts


@dataclass(frozen=True, slots=True)
class WebhookBacklog:
    """Deliveries waiting to go to enabled endpoints, and how long the oldest of them has waited (0 when none)."""

    pending: int
    oldest_pending_age_seconds: float


@dataclass(frozen=True, slots=True)
class PodGauges:
    queue: QueueCounts
    disclosures_overdue: int  # pending past their due time: an asset's owner has not recorded what was sent
    signing: SigningLag
    webhooks: WebhookBacklog
    # Days from today (London) to the last day the active policy's bank-holiday calendar covers; negative once past,
    # 0 when it lists no holidays (due times in working days are refused then, as when it has just ended).
    calendar_days_remaining: int


async def webhook_backlog(*, session: AsyncSession, now: datetime) -> WebhookBacklog:
    """Pending deliveries to enabled endpoints, by the (status, next_attempt_at) index.

    A disabled endpoint's deliveries wait for its owner to enable it again: counting them would keep an alert on
    the backlog firing for a partner's choice.
    """
    pending, oldest = (
        await session.exec(
            select(func.count(), func.min(WebhookDelivery.created_at))
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
            .where(WebhookDelivery.status == DeliveryStatus.PENDING, col(WebhookEndpoint.enabled))
        )
    ).one()
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return WebhookBacklog(pending=pending, oldest_pending_age_seconds=age)


async def read(*, session: AsyncSession, registry: PolicyRegistry, now: datetime) -> PodGauges:
    """Every gauge that describes the database, read in one session."""
    policy = await registry.active(session=session)
    days_left = calendar_check(policy, today=now.astimezone(LONDON).date()).days_left
    return PodGauges(
        queue=await queue_counts(session=session, now=now),
        disclosures_overdue=await overdue_count(session=session, now=now),
        signing=await checkpoints.signing_lag(session=session, now=now),
        webhooks=await webhook_backlog(session=session, now=now),
        calendar_days_remaining=days_left if days_left is not None else 0,
    )
