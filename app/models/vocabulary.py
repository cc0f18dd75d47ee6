"""Closed vocabularies of the domain brief (section 3), one enum each."""

from enum import StrEnum


class PurposeCategory(StrEnum):
    DIRECT_CARE = "direct_care"
    SAFEGUARDING_CHILD = "safeguarding_child"
    SAFEGUARDING_ADULT = "safeguarding_adult"
    CRIME_PREVENTION = "crime_prevention"
    COURT_ORDER = "court_order"
    RESEARCH = "research"
    SERVICE_PLANNING = "service_planning"
    PUBLIC_HEALTH = "public_health"
    REGULATORY = "regulatory"
    OTHER = "other"


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class AgeGroup(StrEnum):
    ADULT = "adult"
    YOUNG_PERSON = "young_person"
    CHILD = "child"
    MIXED = "mixed"


class DataCategory(StrEnum):
    DEMOGRAPHICS = "demographics"
    CONTACT_DETAILS = "contact_details"
    CARE_RECORD_SUMMARY = "care_record_summary"
    DIAGNOSES = "diagnoses"
    MEDICATIONS = "medications"
    TEST_RESULTS = "test_results"
    MENTAL_HEALTH = "mental_health"
    SAFEGUARDING_HISTORY = "safeguarding_history"
    SOCIAL_CARE_RECORD = "social_care_record"
    SEXUAL_HEALTH = "sexual_health"
    FERTILITY_TREATMENT = "fertility_treatment"
    GENDER_HISTORY = "gender_history"
    GENETIC = "genetic"
    FULL_RECORD = "full_record"


class DataForm(StrEnum):
    IDENTIFIABLE = "identifiable"
    PSEUDONYMISED = "pseudonymised"
    ANONYMISED = "anonymised"


class Article6Basis(StrEnum):
    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


class Article9Condition(StrEnum):
    EXPLICIT_CONSENT = "explicit_consent"
    VITAL_INTERESTS = "vital_interests"
    LEGAL_CLAIMS = "legal_claims"
    SUBSTANTIAL_PUBLIC_INTEREST = "substantial_public_interest"
    HEALTH_SOCIAL_CARE = "health_social_care"
    PUBLIC_HEALTH = "public_health"
    RESEARCH = "research"


class ConfidentialityBasis(StrEnum):
    IMPLIED_CONSENT = "implied_consent"
    EXPLICIT_CONSENT = "explicit_consent"
    S251_SUPPORT = "s251_support"
    OVERRIDING_PUBLIC_INTEREST = "overriding_public_interest"
    LEGAL_REQUIREMENT = "legal_requirement"
    PERMISSIVE_GATEWAY = "permissive_gateway"
    NOT_CONFIDENTIAL = "not_confidential"


class ConsentStatus(StrEnum):
    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    NOT_SOUGHT = "not_sought"
    NOT_POSSIBLE = "not_possible"


class Capacity(StrEnum):
    HAS_CAPACITY = "has_capacity"
    LACKS_CAPACITY = "lacks_capacity"
    NOT_ASSESSED = "not_assessed"


class ConsentGivenBy(StrEnum):
    SUBJECT = "subject"
    PARENT = "parent"
    ATTORNEY = "attorney"
    DEPUTY = "deputy"


class StorageRegion(StrEnum):
    UK = "uk"
    ADEQUATE_COUNTRY = "adequate_country"
    SAFEGUARDED = "safeguarded"
    OTHER = "other"


class SubjectInformed(StrEnum):
    YES = "yes"
    NO = "no"
    WILL_INFORM = "will_inform"
    WOULD_PREJUDICE_PURPOSE = "would_prejudice_purpose"


class OrganisationType(StrEnum):
    NHS_TRUST = "nhs_trust"
    GP_PRACTICE = "gp_practice"
    LOCAL_AUTHORITY = "local_authority"
    POLICE = "police"
    SCHOOL = "school"
    RESEARCH = "research"
    REGULATOR = "regulator"
    CHARITY = "charity"
    OTHER = "other"


class DsptStatus(StrEnum):
    STANDARDS_EXCEEDED = "standards_exceeded"
    STANDARDS_MET = "standards_met"
    APPROACHING_STANDARDS = "approaching_standards"
    NOT_MET = "not_met"
    NOT_PUBLISHED = "not_published"


class AgreementStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class FindingResult(StrEnum):
    PASS = "pass"
    CONDITION = "condition"
    REFER = "refer"
    REFUSE = "refuse"


class Outcome(StrEnum):
    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFER = "refer"
    REFUSE = "refuse"


class RequestStatus(StrEnum):
    APPROVED = "approved"
    APPROVED_WITH_CONDITIONS = "approved_with_conditions"
    REFUSED = "refused"
    AWAITING_REVIEW = "awaiting_review"
    IN_REVIEW = "in_review"
    INFORMATION_REQUESTED = "information_requested"
    WITHDRAWN = "withdrawn"


class GuardianOutcome(StrEnum):
    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFUSE = "refuse"
    REQUEST_INFORMATION = "request_information"


class RetrospectiveOutcome(StrEnum):
    UPHELD = "upheld"
    NOT_UPHELD = "not_upheld"


class RetrospectiveStatus(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"
    NOT_UPHELD = "not_upheld"


class DecisionOutcome(StrEnum):
    """Every outcome a decision record can carry: the rules', a guardian's, a retrospective review's."""

    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFER = "refer"
    REFUSE = "refuse"
    REQUEST_INFORMATION = "request_information"
    UPHELD = "upheld"
    NOT_UPHELD = "not_upheld"


class DecisionKind(StrEnum):
    RULES = "rules"
    GUARDIAN = "guardian"
    RETROSPECTIVE = "retrospective"


class Role(StrEnum):
    AGENCY = "agency"
    GUARDIAN = "guardian"
    AUDITOR = "auditor"
    ADMIN = "admin"
