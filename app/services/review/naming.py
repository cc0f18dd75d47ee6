"""How a reader is told which guardian acted:
the controller's own people see a guardian's token subject; an agency never does.

A guardian's `sub` is the controller's internal identifier for a member of its staff. An agency (a caller whose only
honoured role is `agency`) reads "a Caldicott Guardian of <the controller>" in its place wherever a request shows who
decided, gave an opinion, sat on a panel, reconsidered, moved the request, or attached evidence: the request, its
history, its attachments and its FHIR export. The controller is named by its registered name, else its code (as the
decision notice names an organisation). Guardians, auditors and admins (app/powers.py honours them for the controller
alone, and guardians of the configured guardian organisations) see the subjects as recorded.
"""

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.attachment import AttachmentPublic
from app.models.controller_check import CheckRecordEntry
from app.models.deliberation import GuardianRef
from app.models.organisation import Organisation
from app.models.reconsideration import ReconsiderationPublic
from app.models.sharing_request import DecisionPublic
from app.models.verification import VerificationPublic
from app.models.vocabulary import DecisionKind
from app.principal import Principal

GUARDIAN_WORDS = "a Caldicott Guardian of {organisation}"


async def words_for(*, session: AsyncSession, principal: Principal, controller: str) -> str | None:
    """None for a reader who may see guardians' subjects; for an agency, the words that stand for any guardian."""
    if principal.inside:
        return None
    name = (await session.exec(select(Organisation.name).where(Organisation.code == controller))).first()
    return GUARDIAN_WORDS.format(organisation=name or controller)


def decision(public: DecisionPublic, words: str | None) -> DecisionPublic:
    """The decision with every guardian in it (who decided, each opinion's author, a panel's chair,
    members and voters) as `words`."""
    if words is None:
        return public
    if public.facts is not None and public.facts.evidence:
        # The guardians who verified the evidence a decision weighed.
        evidence = [
            record.model_copy(update={"verified_by": words}) if record.verified_by else record
            for record in public.facts.evidence
        ]
        public = public.model_copy(update={"facts": public.facts.model_copy(update={"evidence": evidence})})
    if public.kind == DecisionKind.RULES:
        return public
    opinions = [opinion.model_copy(update={"given_by": words}) for opinion in public.opinions]
    panel = public.panel
    if panel is not None:
        members = [GuardianRef.model_construct(sub=words, org=member.org) for member in panel.members]
        votes = [vote.model_copy(update={"member": words}) for vote in panel.votes]
        panel = panel.model_copy(update={"chair": words, "members": members, "votes": votes})
    return public.model_copy(update={"decided_by": words, "opinions": opinions, "panel": panel})


def reconsideration(public: ReconsiderationPublic, words: str | None) -> ReconsiderationPublic:
    """The reconsideration with the guardian who decided it as `words`
    (the agency's own person who asked stays named)."""
    if words is None or public.decided_by is None:
        return public
    return public.model_copy(update={"decided_by": words})


def actor(sub: str, org: str | None, *, requester: str, words: str | None) -> str:
    """Who moved a request, as the reader may see them:
    only guardians move another organisation's request, the service aside."""
    if words is None or org is None or org == requester:
        return sub
    return words


def attachment(public: AttachmentPublic, *, requester: str, words: str | None) -> AttachmentPublic:
    """Evidence attached by a guardian, with the guardian as `words`;
    the requesting agency's own uploads keep their author."""
    uploaded_by = actor(public.uploaded_by, public.uploaded_by_org, requester=requester, words=words)
    checked = public.verification
    return public.model_copy(
        update={"uploaded_by": uploaded_by, "verification": None if checked is None else verification(checked, words)}
    )


def check_record(entry: CheckRecordEntry, words: str | None) -> CheckRecordEntry:
    """A record of a controller's check, with the guardian or IG manager who made it as `words`."""
    return (
        entry if words is None else entry.model_copy(update={"record": entry.record.model_copy(update={"by": words})})
    )


def verification(public: VerificationPublic, words: str | None) -> VerificationPublic:
    """A verification of evidence, with the guardian who recorded it as `words`."""
    return public if words is None else public.model_copy(update={"verified_by": words})
