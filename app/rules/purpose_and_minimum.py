"""Principles 1 to 5: a justified purpose, necessity, the minimum necessary, need to know, and responsibility."""

from __future__ import annotations

from app.models.vocabulary import (
    DataCategory,
    DsptStatus,
    FindingResult,
    OrganisationType,
)
from app.models.vocabulary import (
    PurposeCategory as Purpose,
)
from app.rules.engine import (
    CONDITION,
    PASS,
    REFER,
    REFUSE,
    Case,
    Edition,
    Found,
    RuleId,
    implements,
    when,
)
from app.rules.groups import (
    BULK_CHECKED_PURPOSES,
    BULK_CHECKED_PURPOSES_2028,
    DSPT_EXEMPT_TYPES,
    DSPT_EXEMPT_TYPES_2028,
    DSPT_RESULTS,
    FULL_RECORD,
    SECONDARY_USE_BASES,
)

# Principle 1


@implements(RuleId.CP1_PURPOSE_RECOGNISED, REFER)
def purpose_recognised(case: Case) -> FindingResult | Found:
    """Refer a purpose the policy does not recognise."""
    return when(case.purpose == Purpose.OTHER, REFER)


@implements(RuleId.CP1_DIRECT_CARE_RECIPIENT, REFER, since=Edition.V2027_1)
def direct_care_recipient(case: Case) -> FindingResult | Found:
    """Refer "direct care" asked by an organisation that gives none (registered professionals give care)."""
    groups = case.policy.requester_groups
    return when(
        case.purpose == Purpose.DIRECT_CARE and case.requester_type in groups.non_care | {OrganisationType.OTHER}, REFER
    )


@implements(RuleId.CP1_PURPOSE_REQUESTER_FIT, REFER, since=Edition.V2028_1)
def purpose_requester_fit(case: Case) -> FindingResult | Found:
    """Refer a purpose this kind of requester has no function to pursue with health and care records (Art. 5(1)(b))."""
    return when(case.purpose in case.policy.implausible_purposes.get(case.requester_type, ()), REFER)


# Principle 2


@implements(RuleId.CP2_IDENTIFIABLE_SECONDARY_USE, REFUSE, until=Edition.V2028_1)
def identifiable_secondary_use(case: Case) -> FindingResult | Found:
    """Refuse identifiable data for secondary use without consent, s251 support or a legal duty."""
    return when(
        case.purpose in case.policy.definitions.secondary
        and case.any_item_identifiable()
        and case.confidentiality not in SECONDARY_USE_BASES,
        REFUSE,
    )


@implements(RuleId.CP2_IDENTIFIABLE_SECONDARY_USE, REFUSE, since=Edition.V2028_1)
def identifiable_secondary_use_2028(case: Case) -> FindingResult | Found:
    """As 2026.1, but a legal requirement counts only as a verified duty."""
    return when(
        case.purpose in case.policy.definitions.secondary and case.any_item_identifiable() and not case.cp2_basis(),
        REFUSE,
    )


# Principle 3


@implements(RuleId.CP3_FULL_RECORD, REFER, until=Edition.V2028_1)
def full_record(case: Case) -> FindingResult | Found:
    """Refer a request for the full record unless a court orders it."""
    return when(
        case.any_item(categories=FULL_RECORD) and case.purpose != Purpose.COURT_ORDER,
        REFER,
    )


@implements(RuleId.CP3_FULL_RECORD, REFER, since=Edition.V2028_1)
def full_record_2028(case: Case) -> FindingResult | Found:
    """Refer a request for the full record unless an order, summons or notice verified as a duty requires it."""
    return when(case.any_item(categories=FULL_RECORD) and not case.court_verified(), REFER)


@implements(RuleId.CP3_CATEGORY_SCOPE, REFER)
def category_scope(case: Case) -> FindingResult | Found:
    """Refer a category the proportionality matrix does not allow for the purpose."""
    if case.purpose == Purpose.OTHER:
        return PASS
    allowed = case.policy.allowed_categories[case.purpose] | {DataCategory.FULL_RECORD}
    return when(any(item.category not in allowed for item in case.items), REFER)


@implements(RuleId.CP3_BULK_IDENTIFIABLE, REFER, until=Edition.V2028_1)
def bulk_identifiable(case: Case) -> FindingResult | Found:
    """Refer identifiable data about many people for purposes that concern individuals."""
    return when(
        case.request.subjects.count > case.policy.thresholds.bulk_subjects
        and case.any_item_identifiable()
        and case.purpose in BULK_CHECKED_PURPOSES,
        REFER,
    )


@implements(RuleId.CP3_BULK_IDENTIFIABLE, REFER, since=Edition.V2028_1)
def bulk_identifiable_2028(case: Case) -> FindingResult | Found:
    """As 2026.1, and also for `other`, for public health without a CP2 basis,
    and for a court order not verified as a duty."""
    if case.request.subjects.count <= case.policy.thresholds.bulk_subjects or not case.any_item_identifiable():
        return PASS
    return when(
        case.purpose in BULK_CHECKED_PURPOSES_2028
        or (case.purpose == Purpose.PUBLIC_HEALTH and not case.cp2_basis())
        or (case.purpose == Purpose.COURT_ORDER and not case.court_verified()),
        REFER,
    )


@implements(RuleId.PROP_RETENTION, CONDITION)
def retention(case: Case) -> FindingResult | Found:
    """Limit retention beyond the threshold, except for care records."""
    return when(
        case.purpose != Purpose.DIRECT_CARE
        and case.request.recipient.retention_days > case.policy.thresholds.retention_days,
        CONDITION,
    )


# Principle 4


@implements(RuleId.CP4_ONWARD_SHARING, REFER)
def onward_sharing(case: Case) -> FindingResult | Found:
    """Refer a recipient that means to pass the data on."""
    return when(case.request.recipient.onward_sharing, REFER)


@implements(RuleId.CP4_NAMED_ACCESS, CONDITION)
def named_access(case: Case) -> FindingResult | Found:
    """Ask for named roles when none is given."""
    return when(not any(role.strip() for role in case.request.recipient.access_roles), CONDITION)


# Principle 5


@implements(RuleId.CP5_STAFF_TRAINED, CONDITION)
def staff_trained(case: Case) -> FindingResult | Found:
    """Ask for training when the recipient's staff are not trained."""
    return when(not case.request.recipient.staff_trained, CONDITION)


@implements(RuleId.CP5_DSPT, REFER, CONDITION, until=Edition.V2027_1)
def dspt(case: Case) -> FindingResult | Found:
    """Weigh the requester's Data Security and Protection Toolkit result where the toolkit applies."""
    if case.requester_type in DSPT_EXEMPT_TYPES:
        return PASS
    return DSPT_RESULTS.get(case.facts.requester.dspt_status, PASS)


@implements(
    RuleId.CP5_DSPT,
    REFER,
    CONDITION,
    Found(CONDITION, "direct_care"),
    Found(REFER, "not_published"),
    since=Edition.V2027_1,
    until=Edition.V2028_1,
)
def dspt_2027(case: Case) -> FindingResult | Found:
    """As 2026.1, but care does not wait on the toolkit,
    and an unpublished one is referred for identifiable special data to some requesters."""
    if case.requester_type in DSPT_EXEMPT_TYPES:
        return PASS
    return toolkit(case)


@implements(
    RuleId.CP5_DSPT,
    REFER,
    CONDITION,
    Found(CONDITION, "direct_care"),
    Found(REFER, "not_published"),
    since=Edition.V2028_1,
)
def dspt_2028(case: Case) -> FindingResult | Found:
    """As 2027.1, and no finding for a court or a coroner, or for an order, summons or notice verified as a duty
    (it binds whatever the toolkit)."""
    if case.requester_type in DSPT_EXEMPT_TYPES_2028 or case.court_verified():
        return PASS
    return toolkit(case)


def toolkit(case: Case) -> FindingResult | Found:
    """The 2027.1 weighing of the requester's toolkit, where it applies."""
    status = case.facts.requester.dspt_status
    if status not in DSPT_RESULTS:
        return PASS
    if case.purpose == Purpose.DIRECT_CARE:
        return Found(CONDITION, "direct_care")
    if (
        status == DsptStatus.NOT_PUBLISHED
        and case.requester_type in case.policy.requester_groups.unpublished_toolkit_referred
        and case.any_item_identifiable(case.policy.definitions.special)
    ):
        return Found(REFER, "not_published")
    return DSPT_RESULTS[status]
