"""Whether the person's notice may be sent (brief section 6, rules 1, 5 and 6):
whom it is addressed to, what withholds it, and releases.

A subject's notice is withheld for each reason that applies to its audience; a guardian who is not of the requesting
organisation releases it for the request's current version (an amendment ends the release), which clears every reason
but `controller_checks_open`: that one ends by itself when the last controller's check is recorded done.
"""

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from app.models.base import utcnow
from app.models.notice import Addressee, NoticeAudience, WithheldReason
from app.models.notice_release import NoticeRelease, NoticeReleaseBody, NoticeReleasePublic
from app.models.sharing_request import RequestVersion, SharingRequest, new_id
from app.models.vocabulary import (
    AgeGroup,
    Capacity,
    ConsentGivenBy,
    ConsentStatus,
    ProxyScope,
    PurposeCategory,
    Role,
    SubjectInformed,
)
from app.principal import Principal
from app.services.audit import events
from app.services.controller_checks import checks as controller_checks

# Telling the person could alert a suspect or an abuser (DPA 2018 Sch. 2 para. 2;
# Working Together to Safeguard Children 2023).
WITHHELD_PURPOSES = frozenset(
    {PurposeCategory.CRIME_PREVENTION, PurposeCategory.SAFEGUARDING_CHILD, PurposeCategory.SAFEGUARDING_ADULT}
)
PROXIES = frozenset({ConsentGivenBy.ATTORNEY, ConsentGivenBy.DEPUTY})
PROXY_ANSWERS = frozenset({ConsentStatus.GIVEN, ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN})
SUBJECT_AUDIENCES = frozenset({NoticeAudience.SUBJECT, NoticeAudience.SUBJECT_ADULTS, NoticeAudience.SUBJECT_PROXY})
# What a release needs besides its reason:
# confirmed not implicated, or the personal representative named and AHRA checked.
NEEDS_NOT_IMPLICATED = frozenset({WithheldReason.PARENTAL_RESPONSIBILITY, WithheldReason.PROXY})


class SubjectNoticeWithheld(Conflict):
    """A 409 for the person's notice while it may not be sent;
    `errors` names each reason (location `withheld`, field the reason)."""

    title = "The subject's notice is withheld"
    slug = "subject-notice-withheld"

    def __init__(self, reasons: list[WithheldReason], texts: dict[str, str]):
        errors = [
            FieldError(field=reason.value, location="withheld", message=texts.get(reason.value, reason.value))
            for reason in reasons
        ]
        super().__init__(f"the subject's notice is withheld ({', '.join(reasons)}): do not send it", errors=errors)
        self.reasons = reasons


def has_proxy(body: dict[str, Any]) -> bool:
    """A health-and-welfare attorney or deputy gave or refused consent for a
    person who lacks capacity (and is alive)."""
    consent = body["consent"]
    return (
        not body["subjects"].get("deceased", False)
        and consent["capacity"] == Capacity.LACKS_CAPACITY
        and consent.get("given_by", ConsentGivenBy.SUBJECT) in PROXIES
        and consent.get("proxy_scope") == ProxyScope.HEALTH_AND_WELFARE
        and consent["status"] in PROXY_ANSWERS
    )


def addressee(body: dict[str, Any], audience: NoticeAudience) -> Addressee:
    """Whom the notice for `audience` is written to; 404 for an audience the request has no notice for."""
    subjects = body["subjects"]
    if audience == NoticeAudience.REQUESTER:
        return Addressee.REQUESTER
    if audience == NoticeAudience.SUBJECT_ADULTS:
        if subjects["age_group"] != AgeGroup.MIXED:
            raise NotFound("a notice for the adults of a group is written only for a mixed group")
        return Addressee.PERSONAL_REPRESENTATIVE if subjects.get("deceased", False) else Addressee.ADULTS
    if audience == NoticeAudience.SUBJECT_PROXY:
        if not has_proxy(body):
            raise NotFound(
                "a notice for an attorney or deputy is written only when one for personal "
                "welfare gave or refused consent"
            )
        return Addressee.PROXY
    return _subject_addressee(body)


def _subject_addressee(body: dict[str, Any]) -> Addressee:
    """Whom the `subject` notice goes to: a personal representative for the dead, a parent for a mixed group's children
    or a child who lacks capacity, else the person."""
    subjects = body["subjects"]
    if subjects.get("deceased", False):
        return Addressee.PERSONAL_REPRESENTATIVE
    child_without_capacity = (
        subjects["age_group"] == AgeGroup.CHILD and body["consent"]["capacity"] != Capacity.HAS_CAPACITY
    )
    if subjects["age_group"] == AgeGroup.MIXED or child_without_capacity:
        return Addressee.PARENT
    return Addressee.PERSON


def releasable_reasons(body: dict[str, Any], audience: NoticeAudience) -> list[WithheldReason]:
    """The reasons a guardian's release clears that hold for this audience's notice (none for the requester's)."""
    if audience not in SUBJECT_AUDIENCES:
        return []
    to = addressee(body, audience)
    reasons = []
    if body["transparency"]["subject_informed"] == SubjectInformed.WOULD_PREJUDICE_PURPOSE:
        reasons.append(WithheldReason.PREJUDICE)
    if body["purpose"]["category"] in WITHHELD_PURPOSES:
        reasons.append(WithheldReason.PURPOSE)
    if to == Addressee.PARENT:
        reasons.append(WithheldReason.PARENTAL_RESPONSIBILITY)
    if to == Addressee.PROXY:
        reasons.append(WithheldReason.PROXY)
    if to == Addressee.PERSONAL_REPRESENTATIVE:
        reasons.append(WithheldReason.DECEASED)
    return reasons


async def current_release(
    session: AsyncSession, request: SharingRequest, audience: NoticeAudience
) -> NoticeRelease | None:
    """The latest release of this audience's notice given on the request's current version
    (an older version's no longer counts)."""
    query = (
        select(NoticeRelease)
        .where(
            NoticeRelease.request_id == request.id,
            NoticeRelease.audience == audience,
            NoticeRelease.version == request.current_version,
        )
        .order_by(col(NoticeRelease.at).desc(), col(NoticeRelease.id).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


async def withheld_reasons(
    *, session: AsyncSession, request: SharingRequest, body: dict[str, Any], audience: NoticeAudience
) -> list[WithheldReason]:
    """Every reason that withholds the notice now: those no release covers, and open controller's checks."""
    if audience == NoticeAudience.REQUESTER:
        return []  # the requester's own notice is never withheld
    reasons = releasable_reasons(body, audience)
    if reasons and await current_release(session, request, audience) is not None:
        reasons = []
    if await controller_checks.open_checks(session, request.id):
        reasons.append(WithheldReason.CONTROLLER_CHECKS_OPEN)
    return reasons


def may_preview(principal: Principal, request: SharingRequest) -> bool:
    """A guardian who is not of the requesting organisation reads and releases a withheld notice."""
    return principal.has(Role.GUARDIAN) and principal.org != request.requester_org


def check_releaser(principal: Principal, request: SharingRequest) -> None:
    """A 403 unless the caller may release the request's notices."""
    if not may_preview(principal, request):
        raise Forbidden(
            "a withheld notice is released by a Caldicott Guardian who is not of the requesting organisation"
        )


def _check_body(body: NoticeReleaseBody, reasons: list[WithheldReason]) -> None:
    if reasons and NEEDS_NOT_IMPLICATED & set(reasons) and not body.not_implicated:
        raise InvalidInput(
            "not_implicated",
            "confirm that the person the notice goes to is not implicated (true) before it is released",
        )
    if WithheldReason.DECEASED in reasons:
        if body.personal_representative is None:
            raise InvalidInput(
                "personal_representative",
                "name the personal representative the notice about a person who has died goes to",
            )
        if not body.access_to_health_records_checked:
            raise InvalidInput(
                "access_to_health_records_checked",
                "confirm (true) that the notice tells them nothing the Access to Health Records "
                "Act 1990 ss.4(3) and 5 withhold",
            )


async def release(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, body: NoticeReleaseBody
) -> NoticeReleasePublic:
    """Record a guardian's release of one audience's notice on the request's current version;
    audited; no decision changes."""
    check_releaser(principal, request)
    if body.audience not in SUBJECT_AUDIENCES:
        raise InvalidInput(
            "audience",
            "the requester's notice is never withheld; release `subject`, `subject_adults` or `subject_proxy`",
        )
    current = (
        await session.exec(
            select(RequestVersion.body).where(
                RequestVersion.request_id == request.id, RequestVersion.version == request.current_version
            )
        )
    ).one()
    reasons = releasable_reasons(current, body.audience)  # 404 for an audience the request has no notice for
    if not reasons:
        raise Conflict(
            f"the {body.audience} notice of this request is withheld for no reason a release clears",
            current_status=request.status,
        )
    _check_body(body, reasons)
    row = NoticeRelease(
        id=new_id(),
        request_id=request.id,
        audience=body.audience,
        version=request.current_version,
        why=body.why,
        not_implicated=body.not_implicated,
        personal_representative=body.personal_representative,
        access_to_health_records_checked=body.access_to_health_records_checked,
        by_sub=principal.sub,
        by_org=principal.org,
        at=utcnow(),
    )
    session.add(row)
    await events.notice_released(
        session=session, actor=principal, request=request, audience=body.audience, reasons=reasons
    )
    await session.flush()
    still = [WithheldReason.CONTROLLER_CHECKS_OPEN] if await controller_checks.open_checks(session, request.id) else []
    return NoticeReleasePublic.of(row, still)
