"""One small valid request that passes every rule, and helpers to change one thing in it."""

from copy import deepcopy
from datetime import date
from typing import Any

from app.models.request_body import SharingRequestBody
from app.models.vocabulary import (
    AgreementStatus,
    DataCategory,
    DsptStatus,
    FindingResult,
    OrganisationType,
    PurposeCategory,
)
from app.rules import AgreementFacts, Evaluation, Facts, Finding, RequesterFacts, evaluate, load_policy
from app.rules.policy import Policy
from app.rules.policy_documents import shipped_path

POLICY = load_policy(shipped_path("2026.1"))
POLICY_2027 = load_policy(shipped_path("2027.1"))
TODAY = date(2026, 11, 26)
REQUESTER_CODE = "RXT01"
AGREEMENT_CODE = "ISA-TEST"


def baseline_request() -> dict[str, Any]:
    """A fresh direct-care request for one adult that every rule passes."""
    return {
        "reference": "CASE-1",
        "purpose": {
            "category": "direct_care",
            "description": "Referral to the community team for continuing treatment",
        },
        "urgency": "routine",
        "sharing_agreement": None,
        "subjects": {"count": 1, "age_group": "adult", "identifiers": [], "deceased": False},
        "data_items": [item("demographics"), item("diagnoses")],
        "legal_basis": {
            "article_6": "public_task",
            "article_9": "health_social_care",
            "confidentiality": "implied_consent",
            "reference": None,
        },
        "consent": {
            "status": "not_sought",
            "capacity": "has_capacity",
            "given_by": "subject",
            "best_interests_decision": False,
        },
        "national_data_opt_out_applied": False,
        "recipient": {
            "retention_days": 730,
            "onward_sharing": False,
            "storage_region": "uk",
            "access_roles": ["community nurse"],
            "staff_trained": True,
        },
        "transparency": {"privacy_notice_covers_use": True, "subject_informed": "yes"},
    }


def item(category: str, form: str = "identifiable") -> dict[str, str]:
    """One data item of a category in a form."""
    return {"category": category, "form": form, "justification": "needed for this purpose"}


def changed(changes: dict[str, Any], request: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of the baseline request (or of `request`) with dotted paths such as "consent.status" set."""
    request = deepcopy(request) if request is not None else baseline_request()
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = request
        for key in parents:
            node = node[key]
        node[leaf] = value
    return request


def agreement(**overrides: Any) -> AgreementFacts:
    """An active agreement for direct care with the baseline requester, in force today."""
    fields: dict[str, Any] = {
        "code": AGREEMENT_CODE,
        "parties": frozenset({REQUESTER_CODE, "LA-TEST"}),
        "purposes": frozenset({PurposeCategory.DIRECT_CARE, PurposeCategory.SAFEGUARDING_ADULT}),
        "data_categories": frozenset({DataCategory.DEMOGRAPHICS, DataCategory.DIAGNOSES}),
        "valid_from": date(2026, 1, 1),
        "valid_until": date(2027, 12, 31),
        "status": AgreementStatus.ACTIVE,
    }
    return AgreementFacts(**(fields | overrides))


def facts(
    request: dict[str, Any] | None = None,
    *,
    requester_type: OrganisationType = OrganisationType.NHS_TRUST,
    dspt_status: DsptStatus = DsptStatus.STANDARDS_MET,
    agreement_facts: AgreementFacts | None = None,
    today: date = TODAY,
) -> Facts:
    """Facts for a request from the baseline requester."""
    body = SharingRequestBody.model_validate(request if request is not None else baseline_request())
    return Facts(
        request=body,
        requester=RequesterFacts(code=REQUESTER_CODE, type=requester_type, dspt_status=dspt_status),
        agreement=agreement_facts,
        today=today,
    )


def run(request: dict[str, Any] | None = None, *, policy: Policy = POLICY, **facts_options: Any) -> Evaluation:
    """Evaluate a request under a policy, by default the 2026.1 baseline."""
    return evaluate(policy, facts(request, **facts_options))


def result(evaluation: Evaluation, rule_id: str) -> FindingResult:
    """The result one rule gave."""
    return finding(evaluation, rule_id).result


def finding(evaluation: Evaluation, rule_id: str) -> Finding:
    """The finding of one rule."""
    (found,) = [found for found in evaluation.findings if found.rule == rule_id]
    return found


def fired(evaluation: Evaluation) -> dict[str, FindingResult]:
    """Every finding that is not a pass, by rule id."""
    return {finding.rule: finding.result for finding in evaluation.findings if finding.result != FindingResult.PASS}


# The tables of brief section 4a, written out from the brief (not read from the shipped YAML),
# so that tests of the 2027.1 policy and rules compare the two.

NON_CARE = frozenset({"police", "school", "regulator", "research"})

WAIVABLE_2027 = frozenset(
    {
        "CONSENT.public_interest",
        "CONSENT.best_interests",
        "CONSENT.child_competence",
        "CP6.vital_interests_capacity",
        "CP6.schedule1_paragraph",
        "CP8.transparency",
        "AGR.registered",
        "AGR.in_force",
        "AGR.party",
        "AGR.scope",
    }
)

ARTICLE9_CONDITIONS = (
    "explicit_consent",
    "vital_interests",
    "legal_claims",
    "substantial_public_interest",
    "health_social_care",
    "public_health",
    "research",
    "social_protection",
)

_SAFEGUARDING_FIT = (
    {"substantial_public_interest", "social_protection", "explicit_consent", "vital_interests"},
    {"health_social_care", "legal_claims"},
)
# purpose: (PASS set, REFER set); any other condition is refused.
ARTICLE9_FIT_2027: dict[str, tuple[set[str], set[str]]] = {
    "direct_care": (
        {"health_social_care", "explicit_consent", "vital_interests"},
        {"substantial_public_interest", "public_health", "social_protection"},
    ),
    "safeguarding_child": _SAFEGUARDING_FIT,
    "safeguarding_adult": _SAFEGUARDING_FIT,
    "crime_prevention": ({"substantial_public_interest", "explicit_consent"}, {"legal_claims", "vital_interests"}),
    "court_order": ({"legal_claims", "substantial_public_interest", "explicit_consent"}, {"health_social_care"}),
    "research": ({"research", "explicit_consent"}, {"public_health"}),
    "service_planning": (
        {"health_social_care", "research", "explicit_consent"},
        {"substantial_public_interest", "public_health"},
    ),
    "public_health": (
        {"public_health", "health_social_care", "explicit_consent"},
        {"research", "substantial_public_interest", "vital_interests"},
    ),
    "regulatory": (
        {"substantial_public_interest", "legal_claims", "explicit_consent"},
        {"health_social_care", "public_health"},
    ),
    "other": (set(), set(ARTICLE9_CONDITIONS)),
}

# code: (title, kind, requesters, categories), as the brief's provisions registry lists them.
PROVISIONS_2027: dict[str, tuple[str, str, set[str], set[str]]] = {
    "court_order": ("an order of a court requiring disclosure", "duty", set(), set()),
    "witness_summons": (
        "a witness summons (Criminal Procedure (Attendance of Witnesses) Act 1965 s.2; "
        "Magistrates' Courts Act 1980 s.97)",
        "duty",
        set(),
        set(),
    ),
    "coroners_notice": ("Coroners and Justice Act 2009 Sch. 5 para. 1 notice", "duty", set(), set()),
    "children_act_1989_s47": ("Children Act 1989 s.47 enquiry (s.47(9)-(11))", "duty", {"local_authority"}, set()),
    "children_act_2004_s16h": (
        "Children Act 2004 s.16H request by safeguarding partners",
        "duty",
        {"local_authority", "police", "nhs_trust"},
        set(),
    ),
    "care_act_2014_s45": (
        "Care Act 2014 s.45 request by a Safeguarding Adults Board (made through its host council)",
        "duty",
        {"local_authority"},
        set(),
    ),
    "health_protection_notification_2010": (
        "Health Protection (Notification) Regulations 2010",
        "duty",
        {"local_authority", "nhs_trust"},
        {"demographics", "contact_details", "diagnoses", "test_results"},
    ),
    "public_health_control_of_disease_1984_part2a": (
        "Public Health (Control of Disease) Act 1984 Part 2A order",
        "duty",
        {"local_authority"},
        set(),
    ),
    "hsca_2012_s259": ("Health and Social Care Act 2012 s.259 requirement", "duty", set(), set()),
    "hsca_2008_s64": ("Health and Social Care Act 2008 s.64 (Care Quality Commission)", "duty", {"regulator"}, set()),
    "road_traffic_act_1988_s172": (
        "Road Traffic Act 1988 s.172 (identity of a driver)",
        "duty",
        {"police"},
        {"demographics"},
    ),
    "terrorism_act_2000_s38b": ("Terrorism Act 2000 s.38B", "duty_on_belief", set(), set()),
    "fgm_act_2003_s5b": ("Female Genital Mutilation Act 2003 s.5B", "duty_on_belief", set(), set()),
    "crime_and_disorder_act_1998_s115": ("Crime and Disorder Act 1998 s.115", "power", set(), set()),
    "children_act_2004_s10": ("Children Act 2004 s.10 (co-operation)", "power", set(), set()),
    "children_act_2004_s11": ("Children Act 2004 s.11 (safeguarding arrangements)", "power", set(), set()),
    "care_act_2014_s6": ("Care Act 2014 s.6 (co-operation)", "power", set(), set()),
    "counter_terrorism_security_act_2015_s38": ("Counter-Terrorism and Security Act 2015 s.38", "power", set(), set()),
    "serious_crime_act_2007_s68": ("Serious Crime Act 2007 s.68", "power", set(), set()),
    "dpa_2018_sch2_para2": ("DPA 2018 Sch. 2 para. 2 (crime and taxation)", "exemption", set(), set()),
    "dpa_2018_sch2_para5": ("DPA 2018 Sch. 2 para. 5 (legal proceedings)", "exemption", set(), set()),
    "care_act_2014_s42": ("Care Act 2014 s.42 enquiry (binds the council, not the holder)", "no_duty", set(), set()),
    "pace_1984": (
        "Police and Criminal Evidence Act 1984 (medical records are excluded material: "
        "a judge's order is needed, then cite `court_order`)",
        "no_duty",
        set(),
        set(),
    ),
    "cpia_1996": (
        "Criminal Procedure and Investigations Act 1996 (third parties owe no duty of disclosure)",
        "no_duty",
        set(),
        set(),
    ),
}
