"""Groups of the vocabulary that the rules name:
the fixed sets and thresholds of the brief that are rule logic, not policy data."""

from types import MappingProxyType

from app.models.vocabulary import (
    AgeGroup,
    Article6Basis,
    ConsentGivenBy,
    ConsentStatus,
    DataCategory,
    DataForm,
    DsptStatus,
    FindingResult,
    OrganisationType,
    ProvisionKind,
)
from app.models.vocabulary import (
    ConfidentialityBasis as Conf,
)
from app.models.vocabulary import (
    PurposeCategory as Purpose,
)

ALL_FORMS = frozenset(DataForm)
ALL_CATEGORIES = frozenset(DataCategory)
NOT_ANONYMISED = ALL_FORMS - {DataForm.ANONYMISED}
SAFEGUARDING = frozenset({Purpose.SAFEGUARDING_CHILD, Purpose.SAFEGUARDING_ADULT})
BULK_CHECKED_PURPOSES = SAFEGUARDING | {Purpose.DIRECT_CARE, Purpose.CRIME_PREVENTION, Purpose.REGULATORY}
PREJUDICE_ACCEPTED_PURPOSES = SAFEGUARDING | {Purpose.CRIME_PREVENTION, Purpose.COURT_ORDER}
EMERGENCY_PURPOSES = SAFEGUARDING | {Purpose.DIRECT_CARE}
SECONDARY_USE_BASES = frozenset({Conf.EXPLICIT_CONSENT, Conf.S251_SUPPORT, Conf.LEGAL_REQUIREMENT})
OPT_OUT_EXEMPT_BASES = frozenset({Conf.EXPLICIT_CONSENT, Conf.LEGAL_REQUIREMENT, Conf.OVERRIDING_PUBLIC_INTEREST})
REFERENCED_BASES = frozenset({Conf.S251_SUPPORT, Conf.LEGAL_REQUIREMENT, Conf.PERMISSIVE_GATEWAY})
PUBLIC_INTEREST_BASES = frozenset({Conf.OVERRIDING_PUBLIC_INTEREST, Conf.PERMISSIVE_GATEWAY})
DSPT_EXEMPT_TYPES = frozenset({OrganisationType.POLICE, OrganisationType.SCHOOL, OrganisationType.REGULATOR})
PUBLIC_AUTHORITY_TYPES = DSPT_EXEMPT_TYPES | {
    OrganisationType.NHS_TRUST,
    OrganisationType.GP_PRACTICE,
    OrganisationType.LOCAL_AUTHORITY,
}
DSPT_RESULTS = MappingProxyType(
    {
        DsptStatus.NOT_MET: FindingResult.REFER,
        DsptStatus.APPROACHING_STANDARDS: FindingResult.CONDITION,
        DsptStatus.NOT_PUBLISHED: FindingResult.CONDITION,
    }
)
# 2027.1
LEGITIMATE_INTERESTS = frozenset({Article6Basis.LEGITIMATE_INTERESTS, Article6Basis.RECOGNISED_LEGITIMATE_INTEREST})
REFUSALS = frozenset({ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN})
DECIDED_CONSENT = REFUSALS | {ConsentStatus.GIVEN}
PROXIES = frozenset({ConsentGivenBy.ATTORNEY, ConsentGivenBy.DEPUTY})
NOT_A_DUTY = frozenset({ProvisionKind.POWER, ProvisionKind.EXEMPTION, ProvisionKind.NO_DUTY})
# Provisions that are an order, summons or notice: information governance must see the document itself.
COURT_PROVISIONS = frozenset({"court_order", "witness_summons", "coroners_notice"})
SCHEDULE1_PART2 = range(6, 29)  # DPA 2018 Sch. 1 Part 2: substantial public interest conditions
SCHEDULE1_SAFEGUARDING = 18
CAPACITY_PRESUMED = frozenset({AgeGroup.ADULT, AgeGroup.YOUNG_PERSON})  # MCA s.1(2): from 16
# 2028.1
BULK_CHECKED_PURPOSES_2028 = BULK_CHECKED_PURPOSES | {Purpose.OTHER}
DSPT_EXEMPT_TYPES_2028 = DSPT_EXEMPT_TYPES | {OrganisationType.COURT, OrganisationType.CORONER}
FULL_RECORD = frozenset({DataCategory.FULL_RECORD})
CRIMINAL_OFFENCE = frozenset({DataCategory.CRIMINAL_OFFENCE})
GENDER_HISTORY = frozenset({DataCategory.GENDER_HISTORY})
# Requester types that show the recipient is a health professional of the Gender Recognition
# (Disclosure of Information) Order 2005, art. 5.
HEALTH_PROFESSIONAL_TYPES = frozenset({OrganisationType.NHS_TRUST, OrganisationType.GP_PRACTICE})
IDENTIFIABLE = frozenset({DataForm.IDENTIFIABLE})
ANONYMISED = frozenset({DataForm.ANONYMISED})
PSEUDONYMISED = frozenset({DataForm.PSEUDONYMISED})
