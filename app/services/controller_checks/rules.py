"""Which controller's checks a decision opens (brief section 5):
pure functions of the decision and, for the rules', the request."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.models.controller_check import HUMAN_INVOLVEMENT
from app.models.request_body import SharingRequestBody
from app.models.sharing_request import Decision
from app.models.vocabulary import (
    Article6Basis,
    Article9Condition,
    ConfidentialityBasis,
    ConsentGivenBy,
    ConsentStatus,
    DataCategory,
    DataForm,
    DecisionKind,
    DecisionOutcome,
    FindingResult,
    OrganisationType,
    PurposeCategory,
)
from app.rules import Policy

EMERGENCY_SHARE = "CP7.emergency_share"
# Rules whose condition is worded as a step the controller's information governance takes itself (brief section 4b,
# Terms). CP6.legal_requirement_verified gives one condition only (variant requirement_seen),
# and every condition of CP6.gateway_kind is a check.
CONTROLLER_CHECK_RULES = frozenset(
    {
        "CP6.court_order_verified",
        "CP6.legal_requirement_verified",
        "CP6.s251_verified",
        "CP6.gateway_kind",
        EMERGENCY_SHARE,
    }
)
APPROVALS = frozenset({DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS})
# A significant decision (Art. 22A(1)(b)): it can found proceedings, an inquest's findings, a prosecution or a sanction.
SIGNIFICANT_REQUESTERS = frozenset(
    {OrganisationType.COURT, OrganisationType.CORONER, OrganisationType.POLICE, OrganisationType.REGULATOR}
)
SIGNIFICANT_PURPOSES = frozenset(
    {PurposeCategory.COURT_ORDER, PurposeCategory.CRIME_PREVENTION, PurposeCategory.REGULATORY}
)


def controller_checks_among(findings: Sequence[dict[str, Any]]) -> list[str]:
    """The rule ids of the controller's checks among a decision's findings (conditions only), in the findings' order."""
    return [
        finding["rule"]
        for finding in findings
        if finding["result"] == FindingResult.CONDITION and finding["rule"] in CONTROLLER_CHECK_RULES
    ]


def significant(
    *, body: SharingRequestBody, requester_type: OrganisationType, special: frozenset[DataCategory]
) -> bool:
    """Whether approving this request is a significant decision: identifiable special category data about the living, to
    a court, coroner, police or regulator."""
    identifiable_special = any(
        item.form == DataForm.IDENTIFIABLE and item.category in special for item in body.data_items
    )
    to_whom = requester_type in SIGNIFICANT_REQUESTERS or body.purpose.category in SIGNIFICANT_PURPOSES
    return identifiable_special and not body.subjects.deceased and to_whom


def own_consent(body: SharingRequestBody) -> bool:
    """The request relies on consent the person gave themselves (Art. 22B's first condition)."""
    basis, consent = body.legal_basis, body.consent
    relies = (
        basis.article_6 == Article6Basis.CONSENT
        or basis.article_9 == Article9Condition.EXPLICIT_CONSENT
        or basis.confidentiality == ConfidentialityBasis.EXPLICIT_CONSENT
    )
    return relies and consent.status == ConsentStatus.GIVEN and consent.given_by == ConsentGivenBy.SUBJECT


@dataclass(frozen=True, slots=True)
class Significance:
    """What the rules' decision on a request needs to know beyond its findings:
    whether it is significant, and resting on the person's own consent."""

    significant: bool
    own_consent: bool

    @classmethod
    def of(cls, *, policy: Policy, body: SharingRequestBody, requester_type: OrganisationType) -> "Significance":
        return cls(
            significant(body=body, requester_type=requester_type, special=policy.definitions.special), own_consent(body)
        )


NOT_SIGNIFICANT = Significance(significant=False, own_consent=False)


def checks_for(decision: Decision, significance: Significance = NOT_SIGNIFICANT) -> list[str]:
    """The names of the checks a decision opens: none unless it approves."""
    if decision.outcome not in APPROVALS:
        return []
    names = controller_checks_among(decision.findings)
    if decision.kind == DecisionKind.RULES and significance.significant and not names and not significance.own_consent:
        names = [HUMAN_INVOLVEMENT]
    return names
