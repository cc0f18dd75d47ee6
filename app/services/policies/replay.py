"""What-if replay: every stored request version re-evaluated under a candidate policy, with the facts recorded in its
decision and the verified evidence on the request now."""

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, insert, tuple_
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
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
from app.rules.facts import WeighedEvidence, facts_from_record
from app.services.attachments import verifications as attachment_verifications
from app.services.audit import events
from app.services.policies import editions
from app.services.reports.decision_log import period

log = logging.getLogger("caldicott.policies")

BATCH = 1000  # decisions read, evaluated and their changes written at a time
# Decisions evaluated before the event loop is given back: about 20 ms of the rule engine on an idle core.
STRETCH = 100
PRUNE_BATCH = 10  # reports deleted per transaction: each may list up to CALDICOTT_REPLAY_MAX_DECISIONS changes


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


def window(*, criteria: ReplayCriteria, max_days: int) -> tuple[datetime, datetime]:
    """The replay's window as [since, until) instants: both ends required, at most `max_days` apart,
    so that no replay reads every decision ever made."""
    since, until = period(from_=criteria.from_, to=criteria.to, location="body")
    if since is None:
        raise InvalidInput("from", "a replay needs a window: give both from and to", location="body")
    if until is None:
        raise InvalidInput("to", "a replay needs a window: give both from and to", location="body")
    # An hour's slack: a window of whole London days may span a clock change.
    if until - since > timedelta(days=max_days, hours=1):
        raise InvalidInput("to", f"the window may span at most {max_days} days", location="body")
    return since, until


def matching(query: Select[Any], *, criteria: ReplayCriteria, since: datetime, until: datetime) -> Select[Any]:
    """`query` narrowed to the rules decisions in the window that match the filters (all but purpose, which is in
    the stored body)."""
    query = query.where(
        col(Decision.kind) == DecisionKind.RULES, col(Decision.decided_at) >= since, col(Decision.decided_at) < until
    )
    if criteria.outcome is not None:
        query = query.where(col(Decision.outcome) == criteria.outcome)
    if criteria.requester is not None:
        query = query.join(SharingRequest, col(SharingRequest.id) == col(Decision.request_id)).where(
            col(SharingRequest.requester_org) == criteria.requester
        )
    return query


def stored_decisions(
    *, criteria: ReplayCriteria, since: datetime, until: datetime, after: tuple[datetime, str] | None, limit: int
) -> Select[Any]:
    """The next `limit` rules decisions in the window that match the filters, after `after` (decided_at, id),
    with their request version's body, in the order decided: one batch, read by keyset on ix_decisions_decided_at."""
    query = (
        select(
            Decision.request_id,
            Decision.version,
            Decision.outcome,
            Decision.findings,
            Decision.facts,
            Decision.facts_origin,
            RequestVersion.body,
            Decision.decided_at,
            Decision.id,
        )
        .join(
            RequestVersion,
            (col(RequestVersion.request_id) == col(Decision.request_id))
            & (col(RequestVersion.version) == col(Decision.version)),
        )
        .order_by(col(Decision.decided_at), col(Decision.id))
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(col(Decision.decided_at), col(Decision.id)) > tuple_(*after))
    return matching(query, criteria=criteria, since=since, until=until)


async def counted(*, session: AsyncSession, criteria: ReplayCriteria, since: datetime, until: datetime) -> int:
    """How many rules decisions in the window match the filters other than purpose."""
    query = matching(select(func.count()).select_from(Decision), criteria=criteria, since=since, until=until)
    return (await session.exec(query)).one()


class Tally:
    """What a replay found, counted as it goes; the changes of one batch at a time, so that memory follows the batch
    and not the window."""

    def __init__(self, replay_id: str) -> None:
        self.replay_id = replay_id
        self.examined = self.unrecoverable = self.differing = 0
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.by_rule: Counter[str] = Counter()

    def batch(
        self,
        rows: Sequence[Any],
        *,
        policy: Policy,
        criteria: ReplayCriteria,
        evidence: dict[str, tuple[WeighedEvidence, ...]],
    ) -> list[dict[str, Any]]:
        """Re-evaluate one batch of stored decisions; the rows of policy_replay_changes it found."""
        changes = []
        for request_id, version, old_outcome, findings, facts, origin, body, *_ in rows:
            if criteria.purpose is not None and body["purpose"]["category"] != criteria.purpose:
                continue
            self.examined += 1
            if origin == FactsOrigin.UNRECOVERABLE or facts is None:
                self.unrecoverable += 1
                continue
            # A replay-only candidate would hold what the current edition does not approve, as it would if active.
            evaluation = editions.adjudicate(
                policy, facts_from_record(facts, stored_request(body), evidence=evidence[request_id])
            )[0]
            self.outcomes[old_outcome, evaluation.outcome.value] += 1
            before, after = results(findings), {finding.rule: finding.result.value for finding in evaluation.findings}
            if before == after and old_outcome == evaluation.outcome:
                continue  # most replayed decisions: the same results, rule by rule (rule_changes would find none)
            changed = rule_changes(before, after)
            if changed or old_outcome != evaluation.outcome:
                self.by_rule.update(change.rule for change in changed)
                rules = [change.model_dump(mode="json") for change in changed]
                changes.append(
                    {"replay_id": self.replay_id, "position": self.differing, "request_id": request_id}
                    | {"version": version, "old_outcome": old_outcome, "new_outcome": evaluation.outcome.value}
                    | {"rules": rules}
                )
                self.differing += 1
        return changes

    def totals(self) -> ReplayTotals:
        """The report's totals."""
        return ReplayTotals(
            examined=self.examined,
            replayed=self.examined - self.unrecoverable,
            unrecoverable=self.unrecoverable,
            differing=self.differing,
            outcome_changed=sum(count for (old, new), count in self.outcomes.items() if old != new),
            outcomes=[
                OutcomeChange(old=old, new=new, count=count) for (old, new), count in sorted(self.outcomes.items())
            ],
            rules=[RuleChangeCount(rule=rule, count=count) for rule, count in sorted(self.by_rule.items())],
        )


class ReplayRunning(Conflict):
    """A second replay for an organisation while its first runs."""

    title = "A replay is already running"
    slug = "replay-running"


# The replays this process is running, by organisation: what a refusal names. SQLite is one process, so this alone
# holds it there; on PostgreSQL an advisory lock held by the replay's transaction holds it across processes too.
RUNNING: dict[str, str] = {}


def lock_key(org: str) -> int:
    """The PostgreSQL advisory lock key of an organisation's replays (a signed 64-bit number)."""
    digest = hashlib.sha256(f"caldicott.policy_replay:{org}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def one_at_a_time(*, session: AsyncSession, org: str, running: str) -> AsyncIterator[None]:
    """Hold the organisation's one replay slot while the block runs, or 409 naming the replay that holds it.

    The advisory lock is transaction-scoped: it goes with the request's commit or rollback, whatever happens."""
    if org in RUNNING:
        raise ReplayRunning(f"one replay at a time per organisation: {RUNNING[org]} is still running for {org}")
    RUNNING[org] = running
    try:
        if session.get_bind().dialect.name == "postgresql":
            taken = (await session.exec(select(func.pg_try_advisory_xact_lock(lock_key(org))))).one()
            if not taken:
                raise ReplayRunning(f"one replay at a time per organisation: another replay is still running for {org}")
        yield
    finally:
        del RUNNING[org]


async def replay(
    *,
    session: AsyncSession,
    policy: Policy,
    criteria: ReplayCriteria,
    since: datetime,
    until: datetime,
    actor: Principal,
    max_decisions: int,
) -> ReplayPublic:
    """Re-evaluate every rules decision in the window under `policy`, a batch at a time,
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
    running = f"replay {report.id} of {policy.name} {policy.version} (started {report.created_at:%Y-%m-%dT%H:%M:%SZ})"
    async with one_at_a_time(session=session, org=actor.org, running=running):
        found = await counted(session=session, criteria=criteria, since=since, until=until)
        if found > max_decisions:
            raise InvalidInput(
                "to",
                f"the window holds {found} rules decisions, more than the {max_decisions} one replay may "
                "re-evaluate: narrow it",
                location="body",
            )
        session.add(report)
        await session.flush()
        tally = await replay_batches(
            session=session, policy=policy, criteria=criteria, since=since, until=until, report=report
        )

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


async def replay_batches(
    *,
    session: AsyncSession,
    policy: Policy,
    criteria: ReplayCriteria,
    since: datetime,
    until: datetime,
    report: PolicyReplay,
) -> Tally:
    """Read, re-evaluate and record the window a batch at a time, giving the event loop to other requests between
    batches; what was found."""
    tally, after = Tally(report.id), None
    connection = await session.connection()
    while True:
        query = stored_decisions(criteria=criteria, since=since, until=until, after=after, limit=BATCH)
        rows = (await connection.execute(query)).all()
        if not rows:
            return tally
        # The verified evidence on each request now, in place of what its decision weighed: the replay asks what the
        # candidate would decide today. A decision made before verification existed, on evidence no guardian has
        # verified since, is listed if that evidence cleared a condition.
        evidence = await attachment_verifications.verified_by_request(session, list({row[0] for row in rows}))
        changes = []
        for start in range(0, len(rows), STRETCH):
            changes += tally.batch(rows[start : start + STRETCH], policy=policy, criteria=criteria, evidence=evidence)
            await asyncio.sleep(0)  # the event loop serves other requests between stretches of evaluation
        if changes:
            await connection.execute(insert(PolicyReplayChange), changes)
        after = (rows[-1].decided_at, rows[-1].id)


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


async def prune_old(
    *, sessionmaker: async_sessionmaker[AsyncSession], keep_days: int, now: datetime | None = None
) -> int:
    """Delete the replay reports run more than `keep_days` ago, with their changes, a few reports a transaction;
    how many reports went."""
    cutoff, pruned = (now or utcnow()) - timedelta(days=keep_days), 0
    while True:
        async with sessionmaker() as session, session.begin():
            chosen = select(PolicyReplay.id).where(col(PolicyReplay.created_at) < cutoff).limit(PRUNE_BATCH)
            ids = list((await session.exec(chosen)).all())
            if ids:
                await session.exec(delete(PolicyReplayChange).where(col(PolicyReplayChange.replay_id).in_(ids)))
                await session.exec(delete(PolicyReplay).where(col(PolicyReplay.id).in_(ids)))
        pruned += len(ids)
        if len(ids) < PRUNE_BATCH:
            break
    if pruned:
        log.info("pruned %d policy replay reports older than %d days", pruned, keep_days)
    return pruned
