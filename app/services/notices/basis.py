"""What the person's notice says of the law (brief section 6, rules 2 to 5 and 8):
the basis, their rights, a refusal not followed, death.

Pure functions of the request as decided, the decision and its policy: the texts are in app/templates/notice/texts.yaml.
"""

from collections.abc import Callable, Mapping
from typing import Any

from app.models.notice import NoticeAutomated, NoticeBasis, NoticeRefusalOverride, NoticeRights
from app.models.sharing_request import Decision
from app.models.vocabulary import (
    AgeGroup,
    Article6Basis,
    Capacity,
    ConfidentialityBasis,
    ConsentGivenBy,
    ConsentStatus,
    DecisionKind,
    FindingResult,
    ProxyScope,
    PurposeCategory,
)
from app.rules.policy import Policy

Texts = Mapping[str, Any]
OPT_OUT_PURPOSES = frozenset({PurposeCategory.RESEARCH, PurposeCategory.SERVICE_PLANNING})
REFUSALS = frozenset({ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN})
PROXIES = frozenset({ConsentGivenBy.ATTORNEY, ConsentGivenBy.DEPUTY})
LEGAL_REQUIREMENT_VERIFIED = "CP6.legal_requirement_verified"
EMERGENCY_SHARE = "CP7.emergency_share"
CRIMINAL_OFFENCE = "criminal_offence"


def provision_words(body: dict[str, Any], policy: Policy | None, texts: Texts) -> str | None:
    """The provision cited, by its registry title, or the s.251 regulation;
    "a provision the controller has not verified" for an unknown code."""
    legal = body["legal_basis"]
    if legal["confidentiality"] == ConfidentialityBasis.S251_SUPPORT:
        regulation = legal.get("s251_regulation")
        return str(texts["s251_regulations"].get(regulation, texts["s251_unstated"]))
    code = legal.get("provision")
    if code is None:
        return None
    entry = policy.provision(code) if policy is not None and policy.provisions else None
    return entry.title if entry is not None else str(texts["unverified_provision"])


def basis(body: dict[str, Any], policy: Policy | None, texts: Texts) -> NoticeBasis:
    """The legal basis in words; for people who have died only the duty of confidence and the provision
    (UK GDPR covers the living)."""
    legal = body["legal_basis"]
    confidentiality = str(texts["confidentiality"].get(legal["confidentiality"], legal["confidentiality"]))
    provision = provision_words(body, policy, texts)
    if body["subjects"].get("deceased", False):
        return NoticeBasis(
            article_6=None, article_9=None, article_10=None, confidentiality=confidentiality, provision=provision
        )
    paragraph = legal.get("schedule1_paragraph")
    schedule1 = texts["schedule1"].format(paragraph=paragraph) if paragraph is not None else None
    article_9 = None
    if legal.get("article_9") is not None:
        article_9 = str(texts["article_9"].get(legal["article_9"], legal["article_9"]))
        article_9 = f"{article_9}; {schedule1}" if schedule1 else article_9
    article_10 = None
    if any(item["category"] == CRIMINAL_OFFENCE for item in body["data_items"]):
        article_10 = (
            texts["article_10"].format(paragraph=schedule1) if schedule1 else str(texts["article_10_unrecorded"])
        )
    return NoticeBasis(
        article_6=str(texts["article_6"].get(legal["article_6"], legal["article_6"])),
        article_9=article_9,
        article_10=article_10,
        confidentiality=confidentiality,
        provision=provision,
    )


def opt_out_applies(body: dict[str, Any]) -> bool:
    """The national data opt-out can apply:
    research and planning, and any purpose but direct care under section 251 support."""
    purpose = body["purpose"]["category"]
    s251 = body["legal_basis"]["confidentiality"] == ConfidentialityBasis.S251_SUPPORT
    return purpose in OPT_OUT_PURPOSES or (s251 and purpose != PurposeCategory.DIRECT_CARE)


def rights(
    body: dict[str, Any], decision: Decision, *, checked: bool, dpo: str, ico: str, texts: Texts
) -> NoticeRights:
    """The rights of a living person, whom to contact, the opt-out where it applies,
    and the safeguards of a decision by the rules."""
    statements = list(texts["rights"]["always"])
    article_6 = body["legal_basis"]["article_6"]
    if article_6 == Article6Basis.PUBLIC_TASK:
        statements.append(texts["rights"]["public_task"])
    elif article_6 == Article6Basis.CONSENT:
        statements.append(texts["rights"]["consent"])
    automated = None
    if decision.kind == DecisionKind.RULES:
        wording = texts["automated"]
        said = [wording["made"], wording["checked"] if checked else wording["not_checked"], wording["safeguards"]]
        automated = NoticeAutomated(checked_by_person=checked, statements=said)
    opt_out = str(texts["opt_out"]) if opt_out_applies(body) else None
    return NoticeRights(statements=statements, dpo_contact=dpo, ico_contact=ico, opt_out=opt_out, automated=automated)


def _verified_duty(decision: Decision) -> bool:
    """The legal requirement cited was verified as a duty: CP6.legal_requirement_verified passed, or
    (2028.1) asked IG to trace the requirement."""
    verified = (FindingResult.PASS, FindingResult.CONDITION)
    return any(
        finding["rule"] == LEGAL_REQUIREMENT_VERIFIED and finding["result"] in verified for finding in decision.findings
    )


def _rules_ground(body: dict[str, Any], decision: Decision, policy: Policy | None, texts: Texts) -> tuple[str, str]:
    """(by, ground) for a refusal the rules did not follow: the first of a verified duty, an emergency,
    no authority, best interests."""
    grounds, by = texts["override_grounds"], texts["override_by"]
    consent, legal = body["consent"], body["legal_basis"]
    if legal["confidentiality"] == ConfidentialityBasis.LEGAL_REQUIREMENT and _verified_duty(decision):
        return by["rules"], grounds["legal_requirement"].format(title=provision_words(body, policy, texts))
    if decision.review_required or any(
        finding["rule"] == EMERGENCY_SHARE and finding["result"] == FindingResult.CONDITION
        for finding in decision.findings
    ):
        return by["emergency"], grounds["emergency"]
    if consent.get("given_by") in PROXIES and consent.get("proxy_scope") == ProxyScope.PROPERTY_AND_AFFAIRS:
        return by["rules"], grounds["no_authority"]
    if consent["capacity"] == Capacity.LACKS_CAPACITY and body["purpose"]["category"] == PurposeCategory.DIRECT_CARE:
        over_16 = body["subjects"]["age_group"] in (AgeGroup.ADULT, AgeGroup.YOUNG_PERSON)
        return by["rules"], grounds["best_interests_mca" if over_16 else "best_interests"]
    return by["rules"], grounds["other"]


def refusal_not_followed(
    body: dict[str, Any], decision: Decision, policy: Policy | None, texts: Texts, purpose_label: str
) -> NoticeRefusalOverride | None:
    """For an approval of a request whose consent was refused or withdrawn:
    by what or whom the refusal was not followed, and on what ground."""
    if body["consent"]["status"] not in REFUSALS:
        return None
    if decision.kind == DecisionKind.RULES:
        by, ground = _rules_ground(body, decision, policy, texts)
        return NoticeRefusalOverride(by=by, ground=ground, subject_reason=None)
    grounds = texts["override_grounds"]
    confidentiality = body["legal_basis"]["confidentiality"]
    title = provision_words(body, policy, texts)
    if confidentiality == ConfidentialityBasis.PERMISSIVE_GATEWAY:
        ground = grounds["statutory_power"].format(title=title)
    elif confidentiality == ConfidentialityBasis.LEGAL_REQUIREMENT:
        ground = grounds["guardian_legal_requirement"].format(title=title)
    else:
        ground = grounds["public_interest"].format(purpose=purpose_label)
    by = texts["override_by"]["panel" if decision.kind == DecisionKind.PANEL else "guardian"]
    return NoticeRefusalOverride(by=by, ground=ground, subject_reason=decision.subject_reason)


def baseline_reasons(policy: Policy | None, baseline: Policy | None) -> Callable[[str, str, str], str]:
    """For a derived policy: a rule's stored reason cut to the baseline's text it begins with,
    so local guidance never reaches the person."""

    def cut(rule: str, result: str, stored: str) -> str:
        if policy is None or baseline is None or rule not in baseline.rules:
            return stored
        texts = baseline.rules[rule].reasons.get(FindingResult(result))
        if texts is None:
            return stored
        values = {name: value for name, value in policy.thresholds.model_dump(exclude_none=True).items()}
        candidates = [texts] if isinstance(texts, str) else list(texts.values())
        filled = []
        for text in candidates:
            try:
                filled.append(text.format_map(values))
            except (KeyError, IndexError, ValueError):
                filled.append(text)
        prefixes = [text for text in filled if stored.startswith(text)]
        return max(prefixes, key=len) if prefixes else stored

    return cut
