"""What the rules see of a request:
its stored form (identifiers as keyed hashes) and the facts beyond it, gathered now."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import SubjectKeys, canonical_json, sha256_hex
from app.models.agreement import SharingAgreement
from app.models.base import LONDON
from app.models.organisation import Organisation
from app.models.request_body import SharingRequestBody
from app.models.vocabulary import (
    DataCategory,
    PurposeCategory,
)
from app.rules import AgreementFacts, Facts, RequesterFacts
from app.rules.facts import evidence_facts
from app.services.agreements import register as agreements
from app.services.agreements.organisations import CallerOrganisation
from app.services.attachments import verifications as attachment_verifications


def today_in_london(now: datetime) -> date:
    """The policy's "today": the calendar date in Europe/London."""
    return now.astimezone(LONDON).date()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The stored form of a body (identifiers replaced by keyed hashes), its hash,
    and the version of the subject key that made the hashes."""

    body: dict[str, Any]
    subject_hashes: list[str]
    request_hash: str
    key_version: int


# Added with policy 2027.1: left out of the stored form while unset, so that a request written before they
# existed keeps its hash (and an Idempotency-Key retried across the upgrade still matches).
LATER_OPTIONAL_LEGAL_BASIS = ("provision", "schedule1_paragraph", "s251_regulation")


# Added with policy 2028.1, each with the value that reads as its absence,
# left out of the stored form on that value for the same reason.
LATER_DEFAULTS = {("legal_basis", "person_at_risk"): "subject", ("consent", "proxy_scope"): None}


def fingerprint(body: SharingRequestBody, *, subject_keys: SubjectKeys, version: int | None = None) -> Fingerprint:
    """Strip identifiers from the body, keeping only their hashes keyed with the current subject key
    (or `version`'s, to compare with a body stored under it)."""
    version = subject_keys.current if version is None else version
    stored = body.model_dump(mode="json")
    for name in LATER_OPTIONAL_LEGAL_BASIS:
        if stored["legal_basis"][name] is None:
            del stored["legal_basis"][name]
    for (part, name), absent in LATER_DEFAULTS.items():
        if stored[part][name] == absent:
            del stored[part][name]
    identifiers = stored["subjects"].pop("identifiers")
    hashes = sorted({subject_keys.hash(identifier, version=version) for identifier in identifiers})
    stored["subjects"]["identifier_hashes"] = hashes
    return Fingerprint(
        body=stored, subject_hashes=hashes, request_hash=sha256_hex(canonical_json(stored)), key_version=version
    )


def requester_facts(organisation: Organisation | CallerOrganisation) -> RequesterFacts:
    return RequesterFacts(code=organisation.code, type=organisation.type, dspt_status=organisation.dspt_status)


def agreement_facts(agreement: SharingAgreement | None) -> AgreementFacts | None:
    if agreement is None:
        return None
    return AgreementFacts(
        code=agreement.code,
        parties=frozenset(agreement.parties),
        purposes=frozenset(PurposeCategory(purpose) for purpose in agreement.purposes),
        data_categories=frozenset(DataCategory(category) for category in agreement.data_categories),
        valid_from=agreement.valid_from,
        valid_until=agreement.valid_until,
        status=agreement.status,
    )


async def gather_facts(
    *,
    session: AsyncSession,
    body: SharingRequestBody,
    requester: Organisation | CallerOrganisation,
    now: datetime,
    request_id: str | None = None,
) -> Facts:
    """Everything the rules look at: the body, the requester, the named agreement, today, and the verified evidence on
    the request (none before it exists)."""
    agreement = await agreements.find(session=session, code=body.sharing_agreement) if body.sharing_agreement else None
    evidence = evidence_facts(
        await attachment_verifications.verified_evidence(session, request_id) if request_id is not None else ()
    )
    return Facts(
        request=body,
        requester=requester_facts(requester),
        agreement=agreement_facts(agreement),
        today=today_in_london(now),
        **evidence,
    )
