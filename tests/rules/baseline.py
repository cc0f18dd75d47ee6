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
from app.rules import AgreementFacts, Evaluation, Facts, RequesterFacts, evaluate, load_policy

POLICY = load_policy()
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


def run(request: dict[str, Any] | None = None, **facts_options: Any) -> Evaluation:
    """Evaluate a request under the packaged policy."""
    return evaluate(POLICY, facts(request, **facts_options))


def result(evaluation: Evaluation, rule_id: str) -> FindingResult:
    """The result one rule gave."""
    (finding,) = [finding for finding in evaluation.findings if finding.rule == rule_id]
    return finding.result


def fired(evaluation: Evaluation) -> dict[str, FindingResult]:
    """Every finding that is not a pass, by rule id."""
    return {finding.rule: finding.result for finding in evaluation.findings if finding.result != FindingResult.PASS}
