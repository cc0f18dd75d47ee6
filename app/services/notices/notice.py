"""Decision notices: the latest final decision on a request,
told in plain English to the requester or to the person it is about.

The notice is built once, as a DecisionNotice (its JSON form); HTML, Markdown and plain text are rendered from that
model by the Jinja2 templates in app/templates/notice/ (app/services/notices/render.py). What the person's notice
says of the law is app/services/notices/basis.py; whether it may be sent yet, app/services/notices/withholding.py.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Forbidden, NotFound
from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.controller_check import ControllerCheck
from app.models.notice import (
    Addressee,
    ConditionSource,
    DecisionNotice,
    EarlierReconsideration,
    NoticeAudience,
    NoticeCheck,
    NoticeCondition,
    NoticeDecider,
    NoticeFinding,
    NoticeItem,
    NoticeOrganisation,
    NoticePrinciple,
    NoticePurpose,
    NoticeRecipient,
    NoticeWithholding,
    ReconsiderationOffer,
)
from app.models.organisation import Organisation
from app.models.reconsideration import Reconsideration
from app.models.sharing_request import Decision, RequestVersion, SharingRequest, Transition
from app.models.vocabulary import (
    CheckStatus,
    DecisionKind,
    DecisionOutcome,
    FindingResult,
    ReconsiderationOutcome,
    RequestStatus,
)
from app.principal import Principal
from app.rules.policy import Policy, rule_area
from app.services.audit import events
from app.services.controller_checks.rules import CONTROLLER_CHECK_RULES
from app.services.notices import basis as notice_basis
from app.services.notices import withholding as notice_withholding
from app.services.notices.render import MEDIA_TYPES, OFFERED, london_date, london_time, render, texts
from app.services.policies.registry import PolicyRegistry
from app.services.review.reconsideration import standing_decision

__all__ = ["MEDIA_TYPES", "OFFERED", "NoticeContext", "build", "london_date", "london_time", "read", "render", "texts"]

FINAL_OUTCOMES = frozenset({DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS, DecisionOutcome.REFUSE})
APPROVALS = frozenset({DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS})
# The outcomes a requester may ask to have reconsidered.
CONTESTABLE = frozenset({DecisionOutcome.REFUSE, DecisionOutcome.APPROVE_WITH_CONDITIONS})
# States in which no final answer stands, whatever decisions came before.
UNDECIDED = frozenset(
    {
        RequestStatus.AWAITING_REVIEW,
        RequestStatus.IN_REVIEW,
        RequestStatus.INFORMATION_REQUESTED,
        RequestStatus.IN_PANEL,
        RequestStatus.WITHDRAWN,
    }
)
Cut = Callable[[str, str, str], str]


@dataclass(frozen=True)
class NoticeContext:
    """What a notice needs from the service's configuration: the controller, the reconsideration window,
    whom to contact, the policies."""

    controller_org: str
    window_days: int
    registry: PolicyRegistry
    dpo_contact: str = ""
    ico_contact: str = ""
    # CALDICOTT_CONTROLLER_NAME; None: the name registered for the controller's organisation.
    controller_name: str | None = None


def _text(group: str, key: object, fallback: str | None = None) -> str:
    return str(texts()[group].get(key, fallback if fallback is not None else key))


async def final_decision(*, session: AsyncSession, request: SharingRequest) -> Decision:
    """The decision the request's status rests on (a guardian's if there is one, else the rules');
    409 while the request has none."""
    if request.status not in UNDECIDED:
        # While a reconsideration waits, the decision put up for it stands (not a revision sent with it,
        # which the rules have decided meanwhile).
        pending = select(Reconsideration.decision_id).where(
            Reconsideration.request_id == request.id, col(Reconsideration.outcome).is_(None)
        )
        waiting = (await session.exec(pending)).first()
        standing = (
            await session.get(Decision, waiting)
            if waiting
            else await standing_decision(session=session, request=request)
        )
        assert standing is not None
        if standing.outcome in FINAL_OUTCOMES:
            return standing
    raise Conflict(
        f"the request is {request.status} and has no final decision yet, so there is no notice to give",
        current_status=request.status,
    )


async def _earlier_reconsideration(
    session: AsyncSession, decision: Decision
) -> tuple[EarlierReconsideration | None, datetime | None]:
    """Whether the decision has been put up for reconsideration
    (each decision is reconsidered at most once), and how that stands."""
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
    """The rules of a policy, or a Caldicott Guardian of an organisation:
    never the guardian's own identifier, which is the controller's internal one."""
    policy = {"policy_name": decision.policy_name, "policy_version": decision.policy_version}
    wording = texts()["deciders"]
    if decision.kind == DecisionKind.RULES:
        return NoticeDecider(
            kind=decision.kind, statement=wording["rules"].format(**policy), organisation=None, **policy
        )
    # The guardian's organisation is on the state changes they made: their claim and their decision.
    query = (
        select(Transition.actor_org)
        .where(Transition.request_id == decision.request_id, Transition.actor_sub == decision.decided_by)
        .order_by(col(Transition.at).desc(), col(Transition.id).desc())
        .limit(1)
    )
    org_code = (await session.exec(query)).first()
    mine = not org_code or org_code == controller.code
    organisation = controller if mine else await _organisation(session, org_code)
    statement = wording.get(decision.kind.value, wording["guardian"]).format(organisation=organisation.name)
    return NoticeDecider(kind=decision.kind, statement=statement, organisation=organisation, **policy)


def _conditions(decision: Decision, *, subject: bool, cut: Cut) -> tuple[list[NoticeCondition], int]:
    """Each condition on the recipient, with why the policy asks it
    (the controller's own checks are not among them: rule 7).

    For the person, a guardian's own wording is counted, not quoted, and a rule's in the baseline's words (rule 8)."""
    if decision.kind != DecisionKind.RULES:
        if subject:
            return [], len(decision.conditions)
        return [
            NoticeCondition(source=ConditionSource.GUARDIAN, rule=None, text=text, explanation=None)
            for text in decision.conditions
        ], 0
    # The rules' conditions are the reasons of their condition findings, in order.
    rule_of = {
        finding["reason"]: finding["rule"]
        for finding in decision.findings
        if finding["result"] == FindingResult.CONDITION
    }
    conditions = []
    for text in decision.conditions:
        rule = rule_of.get(text)
        if rule in CONTROLLER_CHECK_RULES:
            continue
        explanation = texts()["conditions"].get(rule) if rule else None
        shown = cut(rule, FindingResult.CONDITION, text) if rule and subject else text
        conditions.append(
            NoticeCondition(source=ConditionSource.POLICY, rule=rule, text=shown, explanation=explanation)
        )
    return conditions, 0


def _principles(decision: Decision, cut: Cut) -> list[NoticePrinciple]:
    """The principles (and areas beside them) whose rules did not simply pass, principles first, in order.

    A guardian's or a panel's notice never repeats the rules' reasons that said a guardian must decide (rule 4)."""
    groups: dict[tuple[int, int | str], NoticePrinciple] = {}
    for finding in decision.findings:
        if finding["result"] == FindingResult.PASS or (
            finding["result"] == FindingResult.REFER and decision.kind != DecisionKind.RULES
        ):
            continue
        principle = finding["principle"]
        if principle is not None:
            key: tuple[int, int | str] = (0, principle)
            plain = _text("principles", principle, finding["principle_title"])
        else:
            key = (1, rule_area(finding["rule"]))
            plain = _text("areas", key[1], finding["principle_title"])
        group = groups.setdefault(
            key, NoticePrinciple(principle=principle, title=finding["principle_title"], plain=plain, findings=[])
        )
        reason = cut(finding["rule"], finding["result"], finding["reason"])
        group.findings.append(NoticeFinding(rule=finding["rule"], result=finding["result"], reason=reason))
    return [groups[key] for key in sorted(groups, key=lambda key: (key[0], str(key[1]).zfill(3)))]


def _items(body: dict[str, Any], *, shareable: set[str], subject: bool) -> list[NoticeItem]:
    """Each kind of information asked for, in plain words, and whether it may be shared;
    the requester's reasons only for the requester."""
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


async def _checks(session: AsyncSession, decision: Decision, *, subject: bool) -> tuple[list[NoticeCheck], bool, bool]:
    """The controller's checks of the decision (rule 7), whether any still holds the disclosure back,
    and whether a person checked it."""
    rows = (
        await session.exec(
            select(ControllerCheck)
            .where(ControllerCheck.decision_id == decision.id)
            .order_by(col(ControllerCheck.opened_at))
        )
    ).all()
    wording = texts()["controller_checks"]
    checks = [
        NoticeCheck(
            check=row.name, text=str(wording.get(row.name, row.name)), status=None if subject else row.status.value
        )
        for row in rows
    ]
    pending = any(row.status == CheckStatus.OPEN and row.blocking for row in rows)
    checked = bool(rows) and all(row.status == CheckStatus.DONE for row in rows)
    return checks, pending, checked


async def _policies(
    registry: PolicyRegistry, session: AsyncSession, decision: Decision
) -> tuple[Policy | None, Policy | None]:
    """The decision's policy (for its registry and reason texts) and, for a derived one, its baseline;
    None for one this database lacks."""
    try:
        policy = await registry.get(session=session, name=decision.policy_name, version=decision.policy_version)
    except NotFound:
        return None, None
    if policy.derived_from is None:
        return policy, None
    try:
        return policy, await registry.get(
            session=session, name=policy.derived_from.name, version=policy.derived_from.version
        )
    except NotFound:
        return policy, None


def _law(
    *,
    body: dict[str, Any],
    decision: Decision,
    policy: Policy | None,
    addressee: Addressee,
    checked: bool,
    context: NoticeContext,
) -> dict[str, Any]:
    """What the notice says of the law: the basis of an approval; for the person, their rights, a refusal not followed,
    or what holds after death."""
    wording, outcome = texts(), DecisionOutcome(decision.outcome)
    approves, subject = outcome in APPROVALS, addressee != Addressee.REQUESTER
    deceased = addressee == Addressee.PERSONAL_REPRESENTATIVE
    law: dict[str, Any] = {"basis": notice_basis.basis(body, policy, wording) if approves else None}
    if subject and not deceased:
        law["rights"] = notice_basis.rights(
            body, decision, checked=checked, dpo=context.dpo_contact, ico=context.ico_contact, texts=wording
        )
    if subject and approves:
        purpose = _text("purposes", body["purpose"]["category"])
        law["refusal_not_followed"] = notice_basis.refusal_not_followed(body, decision, policy, wording, purpose)
    if deceased:
        law["after_death"] = list(wording["after_death"])
    return law


def _offer(request: SharingRequest, decision: Decision, window_days: int) -> ReconsiderationOffer:
    """How the requester may ask for reconsideration, and by when."""
    deadline = decision.decided_at + timedelta(days=window_days)
    return ReconsiderationOffer(
        deadline=deadline, window_days=window_days, path=f"/v1/sharing-requests/{request.id}/reconsideration"
    )


async def build(
    *,
    session: AsyncSession,
    request: SharingRequest,
    audience: NoticeAudience,
    context: NoticeContext,
    now: datetime | None = None,
) -> tuple[DecisionNotice, dict[str, Any]]:
    """The notice of the request's latest final decision for `audience` (404 for one it has none for),
    with the request as decided."""
    decision = await final_decision(session=session, request=request)
    body = (
        await session.exec(
            select(RequestVersion.body).where(
                RequestVersion.request_id == request.id, RequestVersion.version == decision.version
            )
        )
    ).one()
    addressee = notice_withholding.addressee(body, audience)
    subject, deceased = addressee != Addressee.REQUESTER, addressee == Addressee.PERSONAL_REPRESENTATIVE
    outcome = DecisionOutcome(decision.outcome)
    requested = [entry["category"] for entry in body["data_items"]]
    shareable = (
        set()
        if outcome not in APPROVALS
        else set(requested if decision.approved_items is None else decision.approved_items)
    )
    controller = (
        NoticeOrganisation(code=context.controller_org, name=context.controller_name)
        if context.controller_name
        else await _organisation(session, context.controller_org)
    )
    requester = await _organisation(session, request.requester_org)
    policy, baseline = await _policies(context.registry, session, decision)
    cut: Cut = notice_basis.baseline_reasons(policy, baseline) if subject else (lambda rule, result, stored: stored)
    conditions, withheld = _conditions(decision, subject=subject, cut=cut)
    checks, pending, checked = await _checks(session, decision, subject=subject)
    reconsidered, reconsidered_at = await _earlier_reconsideration(session, decision)
    offered = outcome in CONTESTABLE and reconsidered is None and not subject
    reconsideration = _offer(request, decision, context.window_days) if offered else None
    recipient_terms = {name: body["recipient"][name] for name in ("retention_days", "onward_sharing", "storage_region")}
    notice = DecisionNotice(
        audience=audience,
        request_id=request.id,
        decision_id=decision.id,
        reference=None if subject else body.get("reference"),
        requester=requester,
        controller=controller,
        issued_at=now or utcnow(),
        decided_at=decision.decided_at,
        outcome=outcome,
        outcome_label=_text("outcomes", outcome.value),
        partial=outcome in APPROVALS and bool(set(requested) - shareable) and not deceased,
        emergency_share=decision.kind == DecisionKind.RULES and decision.review_required,
        purpose=NoticePurpose(
            category=body["purpose"]["category"],
            label=_text("purposes", body["purpose"]["category"]),
            description=None if subject else body["purpose"]["description"],
        ),
        urgency=body["urgency"],
        urgency_label=_text("urgency", body["urgency"]),
        subject_count=body["subjects"]["count"],
        information=[]
        if deceased
        else _items(body, shareable=shareable, subject=subject),  # no category for a representative (rule 5)
        conditions=conditions,
        guardian_conditions_withheld=withheld,
        recipient=NoticeRecipient(**recipient_terms, storage_label=_text("storage", recipient_terms["storage_region"])),
        decided_by=await _decider(session=session, decision=decision, controller=controller),
        rationale=None if subject else decision.rationale,
        principles=[] if deceased else _principles(decision, cut),
        reconsideration=reconsideration,
        reconsidered=reconsidered,
        reconsidered_at=reconsidered_at,
        addressed_to=addressee,
        addressed_to_label=_text("addressees", addressee.value).format(requester=requester.name),
        about=_text("about", addressee.value),
        controller_checks=checks,
        checks_pending=pending and not subject,
        **_law(body=body, decision=decision, policy=policy, addressee=addressee, checked=checked, context=context),
    )
    return notice, body


async def read(
    *,
    session: AsyncSession,
    principal: Principal,
    request: SharingRequest,
    audience: NoticeAudience,
    context: NoticeContext,
    preview: bool = False,
) -> DecisionNotice:
    """The notice for a reader who may see the request; 409 while the person's notice is withheld,
    but for a guardian's preview. Audited."""
    if preview and not notice_withholding.may_preview(principal, request):
        raise Forbidden(
            "only a Caldicott Guardian who is not of the requesting organisation previews a withheld notice"
        )
    notice, body = await build(session=session, request=request, audience=audience, context=context)
    reasons = await notice_withholding.withheld_reasons(session=session, request=request, body=body, audience=audience)
    if reasons and not preview:
        raise notice_withholding.SubjectNoticeWithheld(reasons, texts()["withheld"])
    if reasons:
        said = [NoticeWithholding(reason=reason, text=_text("withheld", reason.value)) for reason in reasons]
        await events.notice_previewed(
            session=session, actor=principal, request=request, audience=audience, reasons=reasons
        )
        return notice.model_copy(update={"withheld": True, "withheld_reasons": said})
    await events.request_read(session=session, actor=principal, request=request, action=RequestAction.NOTICE_READ)
    return notice
