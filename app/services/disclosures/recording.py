"""Recording a disclosure, once: by its asset's owner (the `iao` whose subject owns it) or an IG manager, as sent
(what, how and when: never more than the approval covers) or as not sent and why; audited, and the requester's and
the controller's endpoints are sent `sharing_request.disclosed`."""

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models.base import utcnow
from app.models.disclosure import Disclosure, DisclosureOutcome, DisclosurePublic, DisclosureRecordBody
from app.models.sharing_request import Decision, RequestVersion, SharingRequest
from app.models.vocabulary import DataCategory, DisclosureStatus, Role
from app.principal import Principal
from app.services.audit import events
from app.services.disclosures import opening
from app.services.disclosures.reading import may_see
from app.services.webhooks import outbox

DISCLOSED_FIELDS = ("items", "channel", "disclosed_at")


def may_record(principal: Principal, row: Disclosure) -> bool:
    """An IG manager records any disclosure; an IAO those of the assets it owned when they opened."""
    return principal.has(Role.IG_MANAGER) or (principal.has(Role.IAO) and row.owner == principal.sub)


async def record(
    *, session: AsyncSession, principal: Principal, disclosure_id: str, body: DisclosureRecordBody
) -> DisclosurePublic:
    """Record the pending disclosure as sent or not sent: 404 unseen, 403 not its recorder, 409 recorded already,
    422 naming the field."""
    row = await session.get(Disclosure, disclosure_id)
    if row is None or not may_see(principal, row):
        raise NotFound(f"no disclosure {disclosure_id!r}")
    if not may_record(principal, row):
        raise Forbidden("only the asset's owner (its IAO) or an IG manager of the controller records a disclosure")
    # The request first, then the disclosure, as a withdrawal takes them: one waits for the other, never both.
    request = await session.get(SharingRequest, row.request_id, with_for_update=True)
    assert request is not None  # a foreign key
    await session.refresh(row, with_for_update=True)
    if row.status != DisclosureStatus.PENDING:
        raise Conflict(f"the disclosure is {row.status}; it is recorded once", current_status=row.status)
    now = utcnow()
    if body.outcome is DisclosureOutcome.DISCLOSED:
        await _check_disclosed(session=session, request=request, row=row, body=body, now=now)
        row.status, row.items, row.channel, row.disclosed_at = (
            DisclosureStatus.DISCLOSED,
            [str(item) for item in body.items or []],
            body.channel,
            body.disclosed_at,
        )
    else:
        _check_not_disclosed(body)
        row.status, row.reason = DisclosureStatus.NOT_DISCLOSED, body.reason
    row.recorded_by, row.recorded_at, row.version = principal.sub, now, row.version + 1
    session.add(row)
    await session.flush()
    said = f"{row.status} by {row.channel}" if row.channel is not None else str(row.status)
    await events.disclosure_recorded(
        session=session, actor=principal, request=request, disclosure_id=row.id, outcome=said
    )
    if row.status == DisclosureStatus.DISCLOSED:
        assert row.disclosed_at is not None
        disclosed = {
            "disclosure_id": row.id,
            "items": row.items,
            "channel": row.channel,
            "disclosed_at": row.disclosed_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        await outbox.emit_disclosed(session=session, request=request, disclosed=disclosed)
    return DisclosurePublic.of(row, now=now, inside=True)


async def _check_disclosed(
    *, session: AsyncSession, request: SharingRequest, row: Disclosure, body: DisclosureRecordBody, now: datetime
) -> None:
    for field in DISCLOSED_FIELDS:
        if getattr(body, field) is None:
            raise InvalidInput(field, "a disclosure recorded as sent says what went, by which channel and when")
    if body.reason is not None:
        raise InvalidInput("reason", "a reason goes only with `not_disclosed`")
    assert body.disclosed_at is not None and body.items is not None
    if body.disclosed_at > now:
        raise InvalidInput("disclosed_at", "a disclosure is recorded once made: this time is in the future")
    if body.disclosed_at < row.opened_at:
        raise InvalidInput(
            "disclosed_at", f"before the disclosure was opened ({row.opened_at.isoformat()}): nothing was ready then"
        )
    approved = await approved_items(session=session, request=request)
    beyond = sorted({str(item) for item in body.items} - {str(item) for item in approved})
    if beyond:
        raise InvalidInput(
            "items", f"the approval does not cover {', '.join(beyond)}; it covers {', '.join(sorted(approved))}"
        )


def _check_not_disclosed(body: DisclosureRecordBody) -> None:
    for field in DISCLOSED_FIELDS:
        if getattr(body, field) is not None:
            raise InvalidInput(field, "nothing was sent: give only `reason`")
    if body.reason is None:
        raise InvalidInput("reason", "a disclosure recorded as not sent says why")


async def approved_items(*, session: AsyncSession, request: SharingRequest) -> list[DataCategory]:
    """The data categories the request's approval covers: those its guardian named, else all it approved as asked."""
    decision = await opening.approval(session, request)
    if decision is None:
        return []
    if decision.approved_items is not None:
        return [DataCategory(item) for item in decision.approved_items]
    return await _asked(session, decision)


async def _asked(session: AsyncSession, decision: Decision) -> list[DataCategory]:
    query = select(RequestVersion.body).where(
        RequestVersion.request_id == decision.request_id, RequestVersion.version == decision.version
    )
    body = (await session.exec(query)).one()
    return [DataCategory(item["category"]) for item in body["data_items"]]
