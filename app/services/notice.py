"""Decision notices: the latest final decision on a request, told in plain English to the requester or to the person it is about.

The notice is built once, as a DecisionNotice (its JSON form); HTML, Markdown and plain text are rendered from that
model by the Jinja2 templates in app/templates/notice/, whose plain-English texts (texts.yaml) sit beside them.
"""

from datetime import datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal
from app.errors import Conflict, NotAcceptable
from app.models.actions import RequestAction
from app.models.base import LONDON, utcnow
from app.models.notice import (
    ConditionSource,
    DecisionNotice,
    EarlierReconsideration,
    NoticeAudience,
    NoticeCondition,
    NoticeDecider,
    NoticeFinding,
    NoticeFormat,
    NoticeItem,
    NoticeOrganisation,
    NoticePrinciple,
    NoticePurpose,
    NoticeRecipient,
    ReconsiderationOffer,
)
from app.models.organisation import Organisation
from app.models.reconsideration import Reconsideration
from app.models.sharing_request import Decision, RequestVersion, SharingRequest, Transition
from app.models.vocabulary import DecisionKind, DecisionOutcome, FindingResult, ReconsiderationOutcome, RequestStatus
from app.rules.policy import rule_area
from app.services import events
from app.services.reconsideration import standing_decision

TEMPLATE_PACKAGE, TEMPLATE_DIR = "app", "templates/notice"
FINAL_OUTCOMES = frozenset({DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS, DecisionOutcome.REFUSE})
APPROVALS = frozenset({DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS})
# The outcomes a requester may ask to have reconsidered.
CONTESTABLE = frozenset({DecisionOutcome.REFUSE, DecisionOutcome.APPROVE_WITH_CONDITIONS})
# States in which no final answer stands, whatever decisions came before.
UNDECIDED = frozenset(
    {RequestStatus.AWAITING_REVIEW, RequestStatus.IN_REVIEW, RequestStatus.INFORMATION_REQUESTED, RequestStatus.IN_PANEL, RequestStatus.WITHDRAWN}
)
# The server's preference when the Accept header likes several equally: the structured form first.
OFFERED = (NoticeFormat.JSON, NoticeFormat.HTML, NoticeFormat.MARKDOWN, NoticeFormat.PLAIN)
MEDIA_TYPES = {
    NoticeFormat.JSON: "application/json",
    NoticeFormat.HTML: "text/html; charset=utf-8",
    NoticeFormat.MARKDOWN: "text/markdown; charset=utf-8; variant=CommonMark",
    NoticeFormat.PLAIN: "text/plain; charset=utf-8",
}
TEMPLATES = {NoticeFormat.HTML: "notice.html", NoticeFormat.MARKDOWN: "notice.md", NoticeFormat.PLAIN: "notice.txt"}


# Negotiation


def _ranges(accept: str) -> list[tuple[str, str, float]]:
    """(type, subtype, q) of each media range in an Accept header; a range with a malformed q is left out."""
    ranges = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        kind, slash, subtype = media.lower().partition("/")
        if not (kind and slash and subtype):
            continue
        q: float | None = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = None
                if q is not None and not 0 <= q <= 1:
                    q = None
        if q is not None:
            ranges.append((kind, subtype, q))
    return ranges


def negotiate(accept: str | None) -> NoticeFormat:
    """The form the Accept header likes best (q-values, the most specific range deciding); JSON when it says nothing; 406 when none will do."""
    if accept is None or not accept.strip():
        return NoticeFormat.JSON
    ranges = _ranges(accept)
    best, best_q = None, 0.0
    for offered in OFFERED:
        kind, _, subtype = offered.value.partition("/")
        specificities = {(kind, subtype): 2, (kind, "*"): 1, ("*", "*"): 0}
        matching = [(specificities[k, s], q) for k, s, q in ranges if (k, s) in specificities]
        if not matching:
            continue
        most_specific = max(specificity for specificity, _ in matching)
        q = max(q for specificity, q in matching if specificity == most_specific)
        if q > best_q:
            best, best_q = offered, q
    if best is None:
        raise NotAcceptable(f"a notice is given as {', '.join(format.value for format in OFFERED)}; the Accept header allows none of them")
    return best


# Texts and templates


@cache
def texts() -> dict[str, Any]:
    """The plain-English texts kept beside the templates (texts.yaml), read once."""
    source = files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_DIR, "texts.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(source)


def _text(group: str, key: object, fallback: str | None = None) -> str:
    return str(texts()[group].get(key, fallback if fallback is not None else key))


# CommonMark lets any ASCII punctuation be escaped; these are the characters that could start markup inside a line.
_MARKDOWN_SPECIAL = str.maketrans({char: "\\" + char for char in "\\`*_{}[]<>#|!~"})


def markdown_text(value: object) -> object:
    """Every value put into the Markdown notice: free text cannot open a link, an image, emphasis or raw HTML, or break a line."""
    if isinstance(value, str):
        return " ".join(value.split()).translate(_MARKDOWN_SPECIAL)
    return value


def london_date(moment: datetime) -> str:
    """26 November 2026, in the UK's calendar."""
    local = moment.astimezone(LONDON)
    return f"{local.day} {local:%B %Y}"


def london_time(moment: datetime) -> str:
    """14:05 on 26 November 2026 (UK time)."""
    local = moment.astimezone(LONDON)
    return f"{local:%H:%M} on {london_date(moment)} (UK time)"


@cache
def environment(fmt: NoticeFormat) -> Environment:
    """The template environment of one form: HTML autoescaped, Markdown with every value escaped, plain text as it is."""
    environment = Environment(
        loader=PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_DIR),
        autoescape=fmt == NoticeFormat.HTML,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=markdown_text if fmt == NoticeFormat.MARKDOWN else None,
    )
    environment.filters.update(london_date=london_date, london_time=london_time)
    return environment


def render(notice: DecisionNotice, fmt: NoticeFormat) -> str:
    """The notice in one of its forms."""
    if fmt == NoticeFormat.JSON:
        return notice.model_dump_json()
    return environment(fmt).get_template(TEMPLATES[fmt]).render(n=notice, subject=notice.audience == NoticeAudience.SUBJECT)


# Building the notice


async def final_decision(*, session: AsyncSession, request: SharingRequest) -> Decision:
    """The decision the request's status rests on (a guardian's if there is one, else the rules'); 409 while the request has none."""
    if request.status not in UNDECIDED:
        # While a reconsideration waits, the decision put up for it stands (not a revision sent with it, which the rules have decided meanwhile).
        pending = select(Reconsideration.decision_id).where(Reconsideration.request_id == request.id, col(Reconsideration.outcome).is_(None))
        waiting = (await session.exec(pending)).first()
        standing = await session.get(Decision, waiting) if waiting else await standing_decision(session=session, request=request)
        assert standing is not None
        if standing.outcome in FINAL_OUTCOMES:
            return standing
    raise Conflict(f"the request is {request.status} and has no final decision yet, so there is no notice to give", current_status=request.status)


async def _earlier_reconsideration(session: AsyncSession, decision: Decision) -> tuple[EarlierReconsideration | None, datetime | None]:
    """Whether the decision has been put up for reconsideration (each decision is reconsidered at most once), and how that stands."""
    row = (await session.exec(select(Reconsideration).where(Reconsideration.decision_id == decision.id))).first()
    if row is None:
        return None, None
    if row.outcome == ReconsiderationOutcome.UPHELD:
        return EarlierReconsideration.UPHELD, row.decided_at
    return EarlierReconsideration.REQUESTED, row.requested_at


async def _organisation(session: AsyncSession, code: str) -> NoticeOrganisation:
    found = await session.get(Organisation, code)
    return NoticeOrganisation(code=code, name=found.name if found is not None else code)


async def _decider(*, session: AsyncSession, decision: Decision, controller: NoticeOrganisation) -> NoticeDecider:
    """The rules of a policy, or a Caldicott Guardian of an organisation: never the guardian's own identifier, which is the controller's internal one."""
    policy = {"policy_name": decision.policy_name, "policy_version": decision.policy_version}
    wording = texts()["deciders"]
    if decision.kind == DecisionKind.RULES:
        return NoticeDecider(kind=decision.kind, statement=wording["rules"].format(**policy), organisation=None, **policy)
    # The guardian's organisation is on the state changes they made: their claim and their decision.
    query = (
        select(Transition.actor_org)
        .where(Transition.request_id == decision.request_id, Transition.actor_sub == decision.decided_by)
        .order_by(col(Transition.at).desc(), col(Transition.id).desc())
        .limit(1)
    )
    org_code = (await session.exec(query)).first()
    organisation = await _organisation(session, org_code) if org_code else controller
    statement = wording.get(decision.kind.value, wording["guardian"]).format(organisation=organisation.name)
    return NoticeDecider(kind=decision.kind, statement=statement, organisation=organisation, **policy)


def _conditions(decision: Decision, *, subject: bool) -> tuple[list[NoticeCondition], int]:
    """Each condition as an obligation, with why the policy asks it; for the person, a guardian's own wording is counted, not quoted."""
    if decision.kind != DecisionKind.RULES:
        if subject:
            return [], len(decision.conditions)
        return [NoticeCondition(source=ConditionSource.GUARDIAN, rule=None, text=text, explanation=None) for text in decision.conditions], 0
    # The rules' conditions are the reasons of their condition findings, in order.
    rule_of = {finding["reason"]: finding["rule"] for finding in decision.findings if finding["result"] == FindingResult.CONDITION}
    conditions = []
    for text in decision.conditions:
        rule = rule_of.get(text)
        explanation = texts()["conditions"].get(rule) if rule else None
        conditions.append(NoticeCondition(source=ConditionSource.POLICY, rule=rule, text=text, explanation=explanation))
    return conditions, 0


def _principles(decision: Decision) -> list[NoticePrinciple]:
    """The principles (and areas beside them) whose rules did not simply pass, principles first, in order."""
    groups: dict[tuple[int, int | str], NoticePrinciple] = {}
    for finding in decision.findings:
        if finding["result"] == FindingResult.PASS:
            continue
        principle = finding["principle"]
        if principle is not None:
            key: tuple[int, int | str] = (0, principle)
            plain = _text("principles", principle, finding["principle_title"])
        else:
            key = (1, rule_area(finding["rule"]))
            plain = _text("areas", key[1], finding["principle_title"])
        group = groups.setdefault(key, NoticePrinciple(principle=principle, title=finding["principle_title"], plain=plain, findings=[]))
        group.findings.append(NoticeFinding(rule=finding["rule"], result=finding["result"], reason=finding["reason"]))
    return [groups[key] for key in sorted(groups, key=lambda key: (key[0], str(key[1]).zfill(3)))]


def _items(body: dict[str, Any], *, shareable: set[str], subject: bool) -> list[NoticeItem]:
    """Each kind of information asked for, in plain words, and whether it may be shared; the requester's reasons only for the requester."""
    return [
        NoticeItem(
            category=entry["category"],
            label=_text("categories", entry["category"]),
            form=entry["form"],
            form_label=_text("forms", entry["form"]),
            justification=None if subject else entry["justification"],
            may_be_shared=entry["category"] in shareable,
        )
        for entry in body["data_items"]
    ]


async def build(
    *,
    session: AsyncSession,
    request: SharingRequest,
    audience: NoticeAudience,
    controller_org: str,
    window_days: int,
    now: datetime | None = None,
) -> DecisionNotice:
    """The notice of the request's latest final decision, for the requester or for the person the information is about."""
    decision = await final_decision(session=session, request=request)
    body = (await session.exec(select(RequestVersion.body).where(RequestVersion.request_id == request.id, RequestVersion.version == decision.version))).one()
    subject = audience == NoticeAudience.SUBJECT
    outcome = DecisionOutcome(decision.outcome)
    requested = [entry["category"] for entry in body["data_items"]]
    shareable = set() if outcome not in APPROVALS else set(requested if decision.approved_items is None else decision.approved_items)
    controller = await _organisation(session, controller_org)
    conditions, withheld = _conditions(decision, subject=subject)
    reconsidered, reconsidered_at = await _earlier_reconsideration(session, decision)
    reconsideration = None
    if outcome in CONTESTABLE and reconsidered is None and not subject:
        reconsideration = ReconsiderationOffer(
            deadline=decision.decided_at + timedelta(days=window_days), window_days=window_days, path=f"/v1/sharing-requests/{request.id}/reconsideration"
        )
    recipient_terms = {name: body["recipient"][name] for name in ("retention_days", "onward_sharing", "storage_region")}
    return DecisionNotice(
        audience=audience,
        request_id=request.id,
        decision_id=decision.id,
        reference=None if subject else body.get("reference"),
        requester=await _organisation(session, request.requester_org),
        controller=controller,
        issued_at=now or utcnow(),
        decided_at=decision.decided_at,
        outcome=outcome,
        outcome_label=_text("outcomes", outcome.value),
        partial=outcome in APPROVALS and bool(set(requested) - shareable),
        emergency_share=decision.kind == DecisionKind.RULES and decision.review_required,
        purpose=NoticePurpose(
            category=body["purpose"]["category"],
            label=_text("purposes", body["purpose"]["category"]),
            description=None if subject else body["purpose"]["description"],
        ),
        urgency=body["urgency"],
        urgency_label=_text("urgency", body["urgency"]),
        subject_count=body["subjects"]["count"],
        information=_items(body, shareable=shareable, subject=subject),
        conditions=conditions,
        guardian_conditions_withheld=withheld,
        recipient=NoticeRecipient(**recipient_terms, storage_label=_text("storage", recipient_terms["storage_region"])),
        decided_by=await _decider(session=session, decision=decision, controller=controller),
        rationale=None if subject else decision.rationale,
        principles=_principles(decision),
        reconsideration=reconsideration,
        reconsidered=reconsidered,
        reconsidered_at=reconsidered_at,
    )


async def read(
    *,
    session: AsyncSession,
    principal: Principal,
    request: SharingRequest,
    audience: NoticeAudience,
    controller_org: str,
    window_days: int,
) -> DecisionNotice:
    """The notice for a reader who may see the request; the read is recorded in the audit trail."""
    notice = await build(session=session, request=request, audience=audience, controller_org=controller_org, window_days=window_days)
    await events.request_read(session=session, actor=principal, request=request, action=RequestAction.NOTICE_READ)
    return notice
