"""Closed vocabularies of the domain brief (section 3), one enum each."""

from enum import IntEnum, StrEnum


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
    """A kind of information asked for. `fertility_treatment`: licensed treatment held under the HFE Act 1990; \
`gender_history`:
    that a person has applied for or holds a gender recognition certificate, or their gender history; `criminal_offence`
    (policy 2028.1): personal data about criminal convictions and offences or related security measures, allegations \
included
    (UK GDPR Art. 10; DPA 2018 s.11(2)); `full_record`: the whole record."""

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
    # Policy 2028.1: personal data about criminal convictions and offences or related security measures,
    # allegations included (UK GDPR Art. 10; DPA 2018 s.11(2)). Earlier editions name it in no rule.
    CRIMINAL_OFFENCE = "criminal_offence"


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
    # Art. 6(1)(ea), inserted by the Data (Use and Access) Act 2025 s.70 (policy 2027.1).
    RECOGNISED_LEGITIMATE_INTEREST = "recognised_legitimate_interest"


class Article9Condition(StrEnum):
    EXPLICIT_CONSENT = "explicit_consent"
    VITAL_INTERESTS = "vital_interests"
    LEGAL_CLAIMS = "legal_claims"
    SUBSTANTIAL_PUBLIC_INTEREST = "substantial_public_interest"
    HEALTH_SOCIAL_CARE = "health_social_care"
    PUBLIC_HEALTH = "public_health"
    RESEARCH = "research"
    # Art. 9(2)(b), DPA 2018 Sch. 1 para. 1 (policy 2027.1).
    SOCIAL_PROTECTION = "social_protection"


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


class ProxyScope(StrEnum):
    """The authority of the attorney or deputy who gave or refused consent: a lasting power of attorney or a \
deputyship for
    personal welfare (`health_and_welfare`) or for property and affairs (`property_and_affairs`), MCA 2005 ss.9(1), \
16-20."""

    HEALTH_AND_WELFARE = "health_and_welfare"
    PROPERTY_AND_AFFAIRS = "property_and_affairs"


class PersonAtRisk(StrEnum):
    """Whom a safeguarding disclosure protects: the person the information is about (`subject`), or someone else
    (`other`: a victim, a child in the household)."""

    SUBJECT = "subject"
    OTHER = "other"


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
    """What kind of body an organisation is. `care_provider` (policy 2027.1): a registered health or adult social care \
provider
    outside the NHS. Policy 2028.1 adds `court` (a court or tribunal), `coroner` (a coroner's office), `nhs_england`,
    `public_health_agency` (the UK Health Security Agency or one of its health protection teams) and \
`integrated_care_board`
    (NHS Act 2006 s.14Z25; a safeguarding partner, Children Act 2004 s.16E)."""

    NHS_TRUST = "nhs_trust"
    GP_PRACTICE = "gp_practice"
    LOCAL_AUTHORITY = "local_authority"
    POLICE = "police"
    SCHOOL = "school"
    RESEARCH = "research"
    REGULATOR = "regulator"
    CHARITY = "charity"
    # A registered health or adult social care provider outside the NHS (HSCA 2012 s.251B; policy 2027.1).
    CARE_PROVIDER = "care_provider"
    # Policy 2028.1 (brief section 4b): a court or tribunal; a coroner's office; NHS England; the UK Health Security
    # Agency or one of its health protection teams;
    # an integrated care board (a safeguarding partner, Children Act 2004 s.16E).
    COURT = "court"
    CORONER = "coroner"
    NHS_ENGLAND = "nhs_england"
    PUBLIC_HEALTH_AGENCY = "public_health_agency"
    INTEGRATED_CARE_BOARD = "integrated_care_board"
    OTHER = "other"


class DsptStatus(StrEnum):
    STANDARDS_EXCEEDED = "standards_exceeded"
    STANDARDS_MET = "standards_met"
    APPROACHING_STANDARDS = "approaching_standards"
    NOT_MET = "not_met"
    NOT_PUBLISHED = "not_published"


class S251Regulation(IntEnum):
    """The regulation of the Health Service (Control of Patient Information) Regulations 2002 giving s.251 support."""

    CANCER_REGISTRATION = 2
    COMMUNICABLE_DISEASE = 3
    GENERAL = 5


class ProvisionKind(StrEnum):
    """What a statutory provision in the policy's registry does to the holder's duty (brief section 4a)."""

    DUTY = "duty"
    DUTY_ON_BELIEF = "duty_on_belief"
    POWER = "power"
    EXEMPTION = "exemption"
    NO_DUTY = "no_duty"


class FactsOrigin(StrEnum):
    """Where a decision's record of the facts the rules saw came from."""

    RECORDED = "recorded"  # written with the decision
    RECOVERED = "recovered"  # back-filled from rows the audit trail shows unchanged since the decision
    UNRECOVERABLE = "unrecoverable"  # decided before facts were recorded, and the rows have changed since


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
    AWAITING_RECONSIDERATION = "awaiting_reconsideration"  # the agency asked for a decision to be reconsidered
    IN_RECONSIDERATION = "in_reconsideration"  # claimed by a guardian who did not make that decision
    IN_PANEL = "in_panel"  # a panel of guardians is deciding it; the response clock runs on


class GuardianOutcome(StrEnum):
    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFUSE = "refuse"
    REQUEST_INFORMATION = "request_information"


class FinalOutcome(StrEnum):
    """A decision that settles a request: what a reconsideration may overturn a decision to."""

    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFUSE = "refuse"


class ReconsiderationOutcome(StrEnum):
    UPHELD = "upheld"  # the decision reconsidered stands
    OVERTURNED = "overturned"  # a new decision replaces it


class RetrospectiveOutcome(StrEnum):
    UPHELD = "upheld"
    NOT_UPHELD = "not_upheld"


class RetrospectiveStatus(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"
    NOT_UPHELD = "not_upheld"


class DecisionOutcome(StrEnum):
    """Every outcome a decision record can carry: the rules', a guardian's, a panel's; a review of a decision (a
    reconsideration, a retrospective review) carries the outcome that then stands, and its verdict apart."""

    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFER = "refer"
    REFUSE = "refuse"
    REQUEST_INFORMATION = "request_information"


class ReviewVerdict(StrEnum):
    """A guardian's verdict on an earlier decision: a reconsideration's (upheld, overturned) or a retrospective
    review's of an emergency share (upheld, not upheld)."""

    UPHELD = "upheld"  # the decision reviewed stands
    NOT_UPHELD = "not_upheld"  # the emergency share should not have been made (the sharing is not undone)
    OVERTURNED = "overturned"  # on reconsideration, a new decision replaces it


class DecisionKind(StrEnum):
    RULES = "rules"
    GUARDIAN = "guardian"
    RETROSPECTIVE = "retrospective"
    RECONSIDERATION = (
        "reconsideration"  # a guardian's decision on a request for reconsideration: upheld, or a new outcome
    )
    PANEL = "panel"  # a panel of guardians' decision by majority, or the chair's casting vote on a tie


class OpinionChoice(StrEnum):
    """A second guardian's opinion on the outcome the claim holder proposes."""

    AGREE = "agree"
    DISAGREE = "disagree"
    ABSTAIN = "abstain"


class PanelVoteChoice(StrEnum):
    """A panel member's vote; an abstention is a vote cast, but counts neither towards the quorum nor for an outcome."""

    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFUSE = "refuse"
    ABSTAIN = "abstain"


class AttachmentKind(StrEnum):
    """What a piece of evidence attached to a sharing request (or an agreement's signed copy) is."""

    COURT_ORDER = "court_order"
    POLICE_REQUEST_FORM = "police_request_form"
    DPIA = "dpia"
    CONSENT_FORM = "consent_form"
    AGREEMENT = "agreement"
    OTHER = "other"


class VerificationOutcome(StrEnum):
    """A guardian's finding on a piece of evidence: only a `verified` one counts in the rules (brief section 7, \
Evidence)."""

    VERIFIED = "verified"
    REJECTED = "rejected"


class Role(StrEnum):
    AGENCY = "agency"
    GUARDIAN = "guardian"
    AUDITOR = "auditor"
    ADMIN = "admin"
    IG_MANAGER = (
        "ig_manager"  # the controller's information governance: records the controller's checks (brief section 5)
    )


class CheckStatus(StrEnum):
    """Where a controller's check stands: the outcome of its latest record, or `open` before any."""

    OPEN = "open"
    DONE = "done"
    FAILED = "failed"


class CheckOutcome(StrEnum):
    """What a person of the controller records of a check."""

    DONE = "done"
    FAILED = "failed"
