"""What-if replay: every stored request version re-evaluated under a candidate policy, with the facts recorded in its
decision and the verified evidence on the request now."""

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import NotFound
from app.models.actions import ReportAction
from app.models.base import utcnow
from app.models.policy import (
    OutcomeChange,
    PolicyReplay,
    PolicyReplayChange,
    ReplayChangePage,
    ReplayChangePublic,
    ReplayCriteria,
    ReplayPage,
    ReplayPublic,
    ReplayTotals,
    RuleChange,
    RuleChangeCount,
)
from app.models.request_body import SharingRequestBody
from app.models.sharing_request import Decision, PolicyRef, RequestVersion, SharingRequest
from app.models.vocabulary import DecisionKind, FactsOrigin, FindingResult
from app.platform.pagination import ascending, descending, keyset_page
from app.principal import Principal
from app.rules import Policy
from app.rules.facts import facts_from_record
from app.services.attachments import verifications as attachment_verifications
from app.services.audit import events
from app.services.policies import editions

BATCH = 2000


def stored_request(body: dict[str, Any]) -> SharingRequestBody:
    """The request as the rules saw it, from its stored form:
    identifiers were replaced by their keyed hashes, which stand in for them.

    Their values never change a decision; whether any was given does under 2028.1 (CP6.single_subject_anonymised)."""
    subjects = {key: value for key, value in body["subjects"].items() if key != "identifier_hashes"}
    return SharingRequestBody.model_validate(
        {**body, "subjects": {**subjects, "identifiers": body["subjects"].get("identifier_hashes", [])}}
    )


def results(findings: list[dict[str, Any]]) -> dict[str, str]:
    """Each rule's result, from a stored or fresh list of findings."""
    return {finding["rule"]: finding["result"] for finding in findings}


def rule_changes(old: dict[str, str], new: dict[str, str]) -> list[RuleChange]:
    """The rules whose result differs;
    a rule one policy does not have counts as passing there, but is shown as absent."""
    changed = []
    for rule in [*old, *(rule for rule in new if rule not in old)]:
        before, after = old.get(rule), new.get(rule)
        if (before or FindingResult.PASS) != (after or FindingResult.PASS):
            changed.append(RuleChange(rule=rule, old=before, new=after))
    return changed


def stored_decisions(*, criteria: ReplayCriteria, since: datetime | None, until: datetime | None) -> Select[Any]:
    """Every rules decision in the window that matches the filters,
    with its request version's body, in the order decided."""
    query = (
        select(
            Decision.request_id,
            Decision.version,
            Decision.outcome,
            Decision.findings,
            Decision.facts,
            Decision.facts_origin,
            RequestVersion.body,
        )
        .join(
            RequestVersion,
            (col(RequestVersion.request_id) == col(Decision.request_id))
            & (col(RequestVersion.version) == col(Decision.version)),
        )
        .where(col(Decision.kind) == DecisionKind.RULES)
        .order_by(col(Decision.decided_at), col(Decision.id))
    )
    if since is not None:
        query = query.where(col(Decision.decided_at) >= since)
    if until is not None:
        query = query.where(col(Decision.decided_at) < until)
    if criteria.outcome is not None:
        query = query.where(col(Decision.outcome) == criteria.outcome)
    if criteria.requester is not None:
        query = query.join(SharingRequest, col(SharingRequest.id) == col(Decision.request_id)).where(
            col(SharingRequest.requester_org) == criteria.requester
        )
    return query


class Tally:
    """What a replay found, counted as it goes."""

    def __init__(self) -> None:
        self.examined = self.unrecoverable = 0
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.by_rule: Counter[str] = Counter()
        self.changes: list[dict[str, Any]] = []

    def totals(self) -> ReplayTotals:
        """The report's totals."""
        return ReplayTotals(
            examined=self.examined,
            replayed=self.examined - self.unrecoverable,
            unrecoverable=self.unrecoverable,
            differing=len(self.changes),
            outcome_changed=sum(count for (old, new), count in self.outcomes.items() if old != new),
            outcomes=[
                OutcomeChange(old=old, new=new, count=count) for (old, new), count in sorted(self.outcomes.items())
            ],
            rules=[RuleChangeCount(rule=rule, count=count) for rule, count in sorted(self.by_rule.items())],
        )


async def replay(
    *,
    session: AsyncSession,
    policy: Policy,
    criteria: ReplayCriteria,
    since: datetime | None,
    until: datetime | None,
    actor: Principal,
) -> ReplayPublic:
    """Re-evaluate every rules decision in the window under `policy`,
    store what would change, and change no decision."""
    report = PolicyReplay(
        policy_name=policy.name,
        policy_version=policy.version,
        policy_hash=policy.content_hash,
        requested_by=actor.sub,
        requested_by_org=actor.org,
        created_at=utcnow(),
        criteria=criteria.model_dump(mode="json", by_alias=True),
        totals={},
    )
    session.add(report)
    await session.flush()

    tally = Tally()
    decided = (await session.exec(stored_decisions(criteria=criteria, since=since, until=until))).all()
    # The verified evidence on each request now, in place of what its decision weighed: the replay asks what the
    # candidate would decide today. A decision made before verification existed, on evidence no guardian has verified
    # since, is listed if that evidence cleared a condition.
    evidence = await attachment_verifications.verified_by_request(session, list({row[0] for row in decided}))
    for request_id, version, old_outcome, findings, facts, origin, body in decided:
        if criteria.purpose is not None and body["purpose"]["category"] != criteria.purpose:
            continue
        tally.examined += 1
        if origin == FactsOrigin.UNRECOVERABLE or facts is None:
            tally.unrecoverable += 1
            continue
        # A replay-only candidate would hold what the current edition does not approve, as it would if it were active.
        evaluation = editions.adjudicate(
            policy, facts_from_record(facts, stored_request(body), evidence=evidence[request_id])
        )[0]
        changed = rule_changes(
            results(findings), {finding.rule: finding.result.value for finding in evaluation.findings}
        )
        tally.outcomes[old_outcome, evaluation.outcome.value] += 1
        if changed or old_outcome != evaluation.outcome:
            tally.by_rule.update(change.rule for change in changed)
            rules = [change.model_dump(mode="json") for change in changed]
            tally.changes.append(
                {"replay_id": report.id, "position": len(tally.changes), "request_id": request_id, "version": version}
                | {"old_outcome": old_outcome, "new_outcome": evaluation.outcome.value, "rules": rules}
            )
    connection = await session.connection()
    for start in range(0, len(tally.changes), BATCH):
        await connection.execute(insert(PolicyReplayChange), tally.changes[start : start + BATCH])

    totals = tally.totals()
    report.totals = totals.model_dump(mode="json")
    await session.flush()
    await events.report_run(
        session=session,
        actor=actor,
        action=ReportAction.POLICY_REPLAYED,
        report=f"policy_replay/{report.id}",
        outcome=f"{policy.name}/{policy.version}: {totals.replayed} replayed, {totals.differing} differ",
    )
    return public(report)


def public(row: PolicyReplay) -> ReplayPublic:
    """What the API says of a stored replay."""
    return ReplayPublic(
        id=row.id,
        policy=PolicyRef(name=row.policy_name, version=row.policy_version, hash=row.policy_hash),
        criteria=ReplayCriteria.model_validate(row.criteria),
        requested_by=row.requested_by,
        created_at=row.created_at,
        totals=ReplayTotals.model_validate(row.totals),
    )


async def get(*, session: AsyncSession, replay_id: str) -> ReplayPublic:
    """A stored replay, or 404."""
    row = await session.get(PolicyReplay, replay_id)
    if row is None:
        raise NotFound(f"no policy replay {replay_id!r}")
    return public(row)


async def recent_page(
    *, session: AsyncSession, cursor: str | None, limit: int
) -> tuple[list[ReplayPublic], str | None]:
    """The replays run so far, newest first: the reports a reviewer chooses from."""
    order = [descending(col(PolicyReplay.created_at), datetime), descending(col(PolicyReplay.id), str)]
    rows, next_cursor = await keyset_page(
        session,
        select(PolicyReplay),
        order=order,
        key=lambda row: (row.created_at, row.id),
        cursor=cursor,
        limit=limit,
    )
    return ReplayPage(items=[public(row) for row in rows], next_cursor=next_cursor)


async def changes_page(*, session: AsyncSession, replay_id: str, cursor: str | None, limit: int) -> ReplayChangePage:
    """The requests whose outcome or findings would differ, in the order they were decided."""
    await get(session=session, replay_id=replay_id)
    query = select(PolicyReplayChange).where(col(PolicyReplayChange.replay_id) == replay_id)
    order = [ascending(col(PolicyReplayChange.position), int)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row.position,), cursor=cursor, limit=limit
    )
    items = [
        ReplayChangePublic(
            request_id=row.request_id,
            version=row.version,
            old_outcome=row.old_outcome,
            new_outcome=row.new_outcome,
            rules=[RuleChange.model_validate(change) for change in row.rules],
        )
        for row in rows
    ]
    return ReplayChangePage(items=items, next_cursor=next_cursor)
