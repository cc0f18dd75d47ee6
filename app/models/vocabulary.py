"""Closed vocabularies of the domain brief (section 3), one enum each.

Each docstring is the enum's description in the contract and lists every value with its meaning, one Markdown item
per value: a hyphen, the value in backticks, a colon and the meaning. app/http/contract.py turns the list into
`x-enum-descriptions`, and tests/test_contract.py fails when a value is missing from it. New values may be added in
a minor release (the contract's rule for extending enums)."""

from enum import IntEnum, StrEnum


class PurposeCategory(StrEnum):
    """Why the information is wanted; the policy's rules read it with the data asked for (brief section 3).

    - `direct_care`: the individual care of the person, by those giving it (a referral, a discharge, a care plan).
    - `safeguarding_child`: protecting a child from abuse or neglect (Children Act 1989 and 2004).
    - `safeguarding_adult`: protecting an adult at risk (Care Act 2014).
    - `crime_prevention`: preventing or detecting crime, or apprehending or prosecuting offenders.
    - `court_order`: disclosure an order of a court, a witness summons or a coroner's notice requires; policy
      2028.1 believes it only when the order is cited as a verified legal requirement.
    - `research`: research, which the national data opt-out covers.
    - `service_planning`: planning or managing services, which the national data opt-out covers.
    - `public_health`: protecting public health (notifiable diseases, outbreaks).
    - `regulatory`: a regulator's inquiry or fitness-to-practise case.
    - `other`: none of these; always referred to a Caldicott Guardian.
    """

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


# The purposes whose requests the controller's safeguarding leads see, and are told of when decided.
SAFEGUARDING_PURPOSES = frozenset({PurposeCategory.SAFEGUARDING_CHILD, PurposeCategory.SAFEGUARDING_ADULT})


class Urgency(StrEnum):
    """How soon the requester needs an answer; it sets the guardian queue's order and response time.

    - `routine`: the default; a referred request is answered within the policy's routine response time.
    - `urgent`: answered ahead of routine requests, within the shorter urgent response time.
    - `emergency`: risk to life or of serious harm now; some referrals may be shared at once and reviewed by a
      guardian afterwards (principle 7), the rest wait in the emergency queue.
    """

    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class AgeGroup(StrEnum):
    """The age of the people the information is about, which decides the law on their consent.

    - `adult`: 18 or over; the Mental Capacity Act 2005 applies and capacity is presumed.
    - `young_person`: 16 or 17; the Mental Capacity Act applies and capacity is presumed.
    - `child`: under 16; whether the child can decide is Gillick competence, and otherwise a person with parental
      responsibility decides.
    - `mixed`: a group of people of more than one of these ages.
    """

    ADULT = "adult"
    YOUNG_PERSON = "young_person"
    CHILD = "child"
    MIXED = "mixed"


class DataCategory(StrEnum):
    """A kind of information asked for. SPECIAL (health and care data, UK GDPR Art. 9) is every category but
    `demographics` and `contact_details`; the policy restricts `sexual_health`, `fertility_treatment` and
    `gender_history` further.

    - `demographics`: name, date of birth, sex, NHS number and similar identifying details.
    - `contact_details`: address, telephone number, email address.
    - `care_record_summary`: a summary of the care record (current problems, allergies, recent care).
    - `diagnoses`: diagnoses and conditions.
    - `medications`: medicines prescribed or taken.
    - `test_results`: results of tests and investigations.
    - `mental_health`: mental health history and care.
    - `safeguarding_history`: safeguarding concerns, enquiries and plans.
    - `social_care_record`: social care assessments, plans and case notes.
    - `sexual_health`: sexual health services' records; restricted by this policy.
    - `fertility_treatment`: licensed treatment held under the Human Fertilisation and Embryology Act 1990; restricted.
    - `gender_history`: that a person has applied for or holds a gender recognition certificate, or their gender
      history (Gender Recognition Act 2004 s.22); restricted.
    - `genetic`: genetic test results and genetic information.
    - `full_record`: the whole record; referred unless a court order is verified.
    - `criminal_offence`: personal data about criminal convictions and offences or related security measures,
      allegations included (UK GDPR Art. 10; DPA 2018 s.11(2)); read by policy 2028.1, named by no earlier rule.
    """

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
    CRIMINAL_OFFENCE = "criminal_offence"


class DataForm(StrEnum):
    """How identifiable an item is in the recipient's hands.

    - `identifiable`: the person can be identified from it (name, NHS number, address, or a combination).
    - `pseudonymised`: identifiers replaced by a code that whoever holds the key can reverse; still personal data.
    - `anonymised`: no one can be identified, by the recipient or anyone else; outside the duty of confidence (policy
      2028.1 refuses it for a single or named person, and refers small numbers).
    """

    IDENTIFIABLE = "identifiable"
    PSEUDONYMISED = "pseudonymised"
    ANONYMISED = "anonymised"


class Article6Basis(StrEnum):
    """The disclosing controller's lawful basis under UK GDPR Article 6(1) (the controller runs this service and
    is a public authority).

    - `consent`: Art. 6(1)(a), the person's consent; valid only when `consent.status` is `given`.
    - `contract`: Art. 6(1)(b), a contract with the person.
    - `legal_obligation`: Art. 6(1)(c), a legal obligation on the controller.
    - `vital_interests`: Art. 6(1)(d), to protect someone's life.
    - `public_task`: Art. 6(1)(e), the controller's public task; the usual basis for an NHS body or council.
    - `legitimate_interests`: Art. 6(1)(f); a public authority cannot rely on it for its tasks, so it is refused.
    - `recognised_legitimate_interest`: Art. 6(1)(ea), inserted by the Data (Use and Access) Act 2025 s.70; refused
      from policy 2027.1 for the same reason.
    """

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"
    RECOGNISED_LEGITIMATE_INTEREST = "recognised_legitimate_interest"


class Article9Condition(StrEnum):
    """The condition under UK GDPR Article 9(2) for health and care (special category) data; needed when an
    item other than `demographics` or `contact_details` is not anonymised and the people are living.

    - `explicit_consent`: Art. 9(2)(a); valid only when `consent.status` is `given`.
    - `vital_interests`: Art. 9(2)(c), to protect the life of a person physically or legally incapable of consenting.
    - `legal_claims`: Art. 9(2)(f), legal claims or courts acting in their judicial capacity.
    - `substantial_public_interest`: Art. 9(2)(g), with a DPA 2018 Schedule 1 Part 2 condition (give
      `legal_basis.schedule1_paragraph`); safeguarding usually relies on paragraph 18.
    - `health_social_care`: Art. 9(2)(h), health or social care by professionals under a duty of secrecy.
    - `public_health`: Art. 9(2)(i), public health.
    - `research`: Art. 9(2)(j), archiving, research or statistics.
    - `social_protection`: Art. 9(2)(b), employment, social security and social protection law (DPA 2018 Sch. 1
      para. 1); read from policy 2027.1.
    """

    EXPLICIT_CONSENT = "explicit_consent"
    VITAL_INTERESTS = "vital_interests"
    LEGAL_CLAIMS = "legal_claims"
    SUBSTANTIAL_PUBLIC_INTEREST = "substantial_public_interest"
    HEALTH_SOCIAL_CARE = "health_social_care"
    PUBLIC_HEALTH = "public_health"
    RESEARCH = "research"
    SOCIAL_PROTECTION = "social_protection"


class ConfidentialityBasis(StrEnum):
    """The basis for setting aside the common-law duty of confidentiality.

    - `implied_consent`: the person's implied consent, valid only for their direct care by those caring for them.
    - `explicit_consent`: the person's explicit consent, valid only when `consent.status` is `given`.
    - `s251_support`: support under section 251 of the NHS Act 2006 (the Confidentiality Advisory Group); cite the
      approval in `legal_basis.reference` and the regulation in `legal_basis.s251_regulation`.
    - `overriding_public_interest`: the public interest in disclosure outweighs the duty of confidence; always a
      Caldicott Guardian's judgement.
    - `legal_requirement`: a statute or court requires this disclosure (a duty); cite it in `legal_basis.reference`
      and name it in `legal_basis.provision` so that it can be verified.
    - `permissive_gateway`: a statute permits but does not compel the disclosure (Crime and Disorder Act 1998
      s.115); it removes a legal bar, so consent or the public interest is still needed.
    - `not_confidential`: the information is not confidential; refused from policy 2028.1 for identifiable health or
      care records.
    """

    IMPLIED_CONSENT = "implied_consent"
    EXPLICIT_CONSENT = "explicit_consent"
    S251_SUPPORT = "s251_support"
    OVERRIDING_PUBLIC_INTEREST = "overriding_public_interest"
    LEGAL_REQUIREMENT = "legal_requirement"
    PERMISSIVE_GATEWAY = "permissive_gateway"
    NOT_CONFIDENTIAL = "not_confidential"


class ConsentStatus(StrEnum):
    """Where the consent of the person (or of whoever may decide for them) stands for this disclosure.

    - `given`: consent was given for this disclosure.
    - `refused`: consent was asked for and refused.
    - `withdrawn`: consent was given and later withdrawn.
    - `not_sought`: consent was not asked for; the request relies on another basis.
    - `not_possible`: consent cannot be asked for (the person is unconscious or cannot be found).
    """

    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    NOT_SOUGHT = "not_sought"
    NOT_POSSIBLE = "not_possible"


class Capacity(StrEnum):
    """Whether the person the information is about can decide about this disclosure themselves: mental capacity
    under the Mental Capacity Act 2005 from age 16, Gillick competence under 16.

    - `has_capacity`: the person can decide (for a child under 16: has been assessed as Gillick competent).
    - `lacks_capacity`: the person has been assessed as unable to decide (for a child under 16: as not competent);
      someone may decide for them (`given_by`), or a best-interests decision applies.
    - `not_assessed`: no assessment was made. For a young child who is plainly too young to decide (a six-year-old),
      send `lacks_capacity` with `given_by: parent`; `not_assessed` with the child's own consent is referred to a
      guardian to judge the child's competence.
    """

    HAS_CAPACITY = "has_capacity"
    LACKS_CAPACITY = "lacks_capacity"
    NOT_ASSESSED = "not_assessed"


class ConsentGivenBy(StrEnum):
    """Who gave or refused the consent in `consent.status`.

    - `subject`: the person the information is about (the default).
    - `parent`: a parent or other person with parental responsibility, for a child.
    - `attorney`: an attorney under a lasting power of attorney (give `consent.proxy_scope`).
    - `deputy`: a deputy appointed by the Court of Protection (give `consent.proxy_scope`).
    """

    SUBJECT = "subject"
    PARENT = "parent"
    ATTORNEY = "attorney"
    DEPUTY = "deputy"


class ProxyScope(StrEnum):
    """The authority of the attorney or deputy who gave or refused consent (Mental Capacity Act 2005 ss.9(1),
    16-20).

    - `health_and_welfare`: a lasting power of attorney or deputyship for personal welfare: it may decide about
      health and care records.
    - `property_and_affairs`: one for property and financial affairs: it has no authority over health and care
      records.
    """

    HEALTH_AND_WELFARE = "health_and_welfare"
    PROPERTY_AND_AFFAIRS = "property_and_affairs"


class PersonAtRisk(StrEnum):
    """Whom a safeguarding disclosure protects.

    - `subject`: the person the information is about (the default).
    - `other`: someone else, such as a victim or a child in the household.
    """

    SUBJECT = "subject"
    OTHER = "other"


class StorageRegion(StrEnum):
    """Where the recipient will store the information.

    - `uk`: in the United Kingdom.
    - `adequate_country`: in a country covered by UK adequacy regulations.
    - `safeguarded`: elsewhere, under UK GDPR Art. 46 safeguards (the IDTA or the Addendum).
    - `other`: none of these; refused.
    """

    UK = "uk"
    ADEQUATE_COUNTRY = "adequate_country"
    SAFEGUARDED = "safeguarded"
    OTHER = "other"


class SubjectInformed(StrEnum):
    """Whether the person the information is about knows of this disclosure (principle 8).

    - `yes`: the person has been told.
    - `no`: the person has not been told and will not be.
    - `will_inform`: the person will be told.
    - `would_prejudice_purpose`: telling the person would prejudice the purpose (a safeguarding enquiry, an
      investigation); record why.
    """

    YES = "yes"
    NO = "no"
    WILL_INFORM = "will_inform"
    WOULD_PREJUDICE_PURPOSE = "would_prejudice_purpose"


class OrganisationType(StrEnum):
    """What kind of body an organisation is; the rules read the requester's type.

    - `nhs_trust`: an NHS trust or foundation trust.
    - `gp_practice`: a general practice.
    - `local_authority`: a council (social services, public health, education).
    - `police`: a police force.
    - `school`: a school or college.
    - `research`: a university or other research body.
    - `regulator`: a regulator (the Care Quality Commission, the General Medical Council and the like).
    - `charity`: a charity or voluntary organisation.
    - `care_provider`: a registered health or adult social care provider outside the NHS: a care home, home-care agency,
      community pharmacy, independent hospital or hospice (HSCA 2012 s.251B; policy 2027.1).
    - `court`: a court or tribunal (policy 2028.1).
    - `coroner`: a coroner's office (policy 2028.1).
    - `nhs_england`: NHS England (policy 2028.1).
    - `public_health_agency`: the UK Health Security Agency or one of its health protection teams (policy 2028.1).
    - `integrated_care_board`: an integrated care board (NHS Act 2006 s.14Z25), a safeguarding partner (Children Act
      2004 s.16E; policy 2028.1).
    - `other`: any other body.
    """

    NHS_TRUST = "nhs_trust"
    GP_PRACTICE = "gp_practice"
    LOCAL_AUTHORITY = "local_authority"
    POLICE = "police"
    SCHOOL = "school"
    RESEARCH = "research"
    REGULATOR = "regulator"
    CHARITY = "charity"
    CARE_PROVIDER = "care_provider"
    COURT = "court"
    CORONER = "coroner"
    NHS_ENGLAND = "nhs_england"
    PUBLIC_HEALTH_AGENCY = "public_health_agency"
    INTEGRATED_CARE_BOARD = "integrated_care_board"
    OTHER = "other"


class DsptStatus(StrEnum):
    """The organisation's latest Data Security and Protection Toolkit result; the rules read it for requesters the
    toolkit applies to (not the police, schools, regulators, courts or coroners).

    - `standards_exceeded`: standards exceeded.
    - `standards_met`: standards met.
    - `approaching_standards`: approaching standards, with an improvement plan; a condition.
    - `not_met`: standards not met; referred outside direct care, a condition for direct care.
    - `not_published`: no assessment published; a condition, or referred for some requesters of identifiable data.
    """

    STANDARDS_EXCEEDED = "standards_exceeded"
    STANDARDS_MET = "standards_met"
    APPROACHING_STANDARDS = "approaching_standards"
    NOT_MET = "not_met"
    NOT_PUBLISHED = "not_published"


class S251Regulation(IntEnum):
    """The regulation of the Health Service (Control of Patient Information) Regulations 2002 under which
    section 251 support is given.

    - `2`: regulation 2, cancer registration and related purposes.
    - `3`: regulation 3, communicable disease and other risks to public health (exempt from the national data
      opt-out).
    - `5`: regulation 5, other medical purposes, with the Confidentiality Advisory Group's approval.
    """

    CANCER_REGISTRATION = 2
    COMMUNICABLE_DISEASE = 3
    GENERAL = 5


class ProvisionKind(StrEnum):
    """What a statutory provision in the policy's registry does to the holder's duty (brief section 4a).

    - `duty`: a statute or court requires the holder to disclose on request.
    - `duty_on_belief`: the holder must volunteer information on its own belief; no one can require it by request.
    - `power`: a statute permits, but does not require, disclosure.
    - `exemption`: lifts a data-protection restriction; neither requires nor permits disclosure.
    - `no_duty`: often cited as a requirement on the holder, but it is not one.
    """

    DUTY = "duty"
    DUTY_ON_BELIEF = "duty_on_belief"
    POWER = "power"
    EXEMPTION = "exemption"
    NO_DUTY = "no_duty"


class FactsOrigin(StrEnum):
    """Where a decision's record of the facts the rules saw came from.

    - `recorded`: written with the decision.
    - `recovered`: back-filled from rows the audit trail shows unchanged since the decision.
    - `unrecoverable`: decided before facts were recorded, and the rows have changed since.
    """

    RECORDED = "recorded"
    RECOVERED = "recovered"
    UNRECOVERABLE = "unrecoverable"


class AgreementStatus(StrEnum):
    """Whether an information sharing agreement may be relied on, as its owner set it.

    - `active`: in force between `valid_from` and `valid_until`.
    - `suspended`: suspended by an admin; requests naming it are referred (a condition for direct care).
    """

    ACTIVE = "active"
    SUSPENDED = "suspended"


class FindingResult(StrEnum):
    """What one rule found on a request.

    - `pass`: the rule has no objection.
    - `condition`: the share may go ahead on the condition the reason states.
    - `refer`: a Caldicott Guardian must decide.
    - `refuse`: the share may not go ahead as asked.
    """

    PASS = "pass"
    CONDITION = "condition"
    REFER = "refer"
    REFUSE = "refuse"


class Outcome(StrEnum):
    """What the policy's rules decided: any refusal refuses, otherwise any referral refers, otherwise any condition
    makes an approval with conditions.

    - `approve`: the share may go ahead.
    - `approve_with_conditions`: the share may go ahead on the conditions listed.
    - `refer`: a Caldicott Guardian decides; the request is in the guardian queue.
    - `refuse`: the share may not go ahead.
    """

    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFER = "refer"
    REFUSE = "refuse"


class RequestStatus(StrEnum):
    """Where a sharing request stands.

    - `approved`: approved; it may be disclosed once any controller's checks are done.
    - `approved_with_conditions`: approved on the conditions its decision lists.
    - `refused`: refused.
    - `awaiting_review`: referred, waiting in the guardian queue.
    - `in_review`: claimed by a guardian who is deciding it.
    - `information_requested`: a guardian asked the requester for more information (answer with an amendment).
    - `withdrawn`: withdrawn by the requester.
    - `awaiting_reconsideration`: the requester asked for a decision to be reconsidered; waiting for a guardian.
    - `in_reconsideration`: claimed by a guardian who did not make that decision.
    - `in_panel`: a panel of guardians is deciding it; the response clock runs on.
    """

    APPROVED = "approved"
    APPROVED_WITH_CONDITIONS = "approved_with_conditions"
    REFUSED = "refused"
    AWAITING_REVIEW = "awaiting_review"
    IN_REVIEW = "in_review"
    INFORMATION_REQUESTED = "information_requested"
    WITHDRAWN = "withdrawn"
    AWAITING_RECONSIDERATION = "awaiting_reconsideration"
    IN_RECONSIDERATION = "in_reconsideration"
    IN_PANEL = "in_panel"


class GuardianOutcome(StrEnum):
    """What a Caldicott Guardian decides on a referred request.

    - `approve`: the share may go ahead.
    - `approve_with_conditions`: the share may go ahead on the conditions given.
    - `refuse`: the share may not go ahead.
    - `request_information`: the requester is asked for more information before a decision.
    """

    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFUSE = "refuse"
    REQUEST_INFORMATION = "request_information"


class FinalOutcome(StrEnum):
    """A decision that settles a request: what a reconsideration may overturn a decision to.

    - `approve`: the share may go ahead.
    - `approve_with_conditions`: the share may go ahead on the conditions given.
    - `refuse`: the share may not go ahead.
    """

    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFUSE = "refuse"


class ReconsiderationOutcome(StrEnum):
    """A guardian's answer to a request for reconsideration.

    - `upheld`: the decision reconsidered stands.
    - `overturned`: a new decision replaces it.
    """

    UPHELD = "upheld"
    OVERTURNED = "overturned"


class RetrospectiveOutcome(StrEnum):
    """A guardian's retrospective review of an emergency share.

    - `upheld`: the share was right.
    - `not_upheld`: the share should not have been made; the controller follows it up.
    """

    UPHELD = "upheld"
    NOT_UPHELD = "not_upheld"


class RetrospectiveStatus(StrEnum):
    """Where the retrospective review of an emergency share stands.

    - `pending`: waiting for a guardian.
    - `upheld`: the guardian found the share right.
    - `not_upheld`: the guardian found the share should not have been made.
    """

    PENDING = "pending"
    UPHELD = "upheld"
    NOT_UPHELD = "not_upheld"


class DecisionOutcome(StrEnum):
    """Every outcome a decision record can carry: the rules', a guardian's, a panel's. A review of a decision (a
    reconsideration, a retrospective review) carries the outcome that then stands, and its verdict apart
    (`ReviewVerdict`).

    - `approve`: the share may go ahead.
    - `approve_with_conditions`: the share may go ahead on the conditions listed.
    - `refer`: the rules referred the request to a Caldicott Guardian.
    - `refuse`: the share may not go ahead.
    - `request_information`: a guardian asked the requester for more information.
    """

    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFER = "refer"
    REFUSE = "refuse"
    REQUEST_INFORMATION = "request_information"


class ReviewVerdict(StrEnum):
    """A guardian's verdict on an earlier decision: a reconsideration's, or a retrospective review's of an emergency
    share. The decision's `outcome` is the one that stands.

    - `upheld`: the decision reviewed stands; its outcome is repeated.
    - `not_upheld`: on a retrospective review, the emergency share should not have been made (it is not undone).
    - `overturned`: on reconsideration, a new decision replaces the one reconsidered; its outcome is the new one.
    """

    UPHELD = "upheld"  # the decision reviewed stands
    NOT_UPHELD = "not_upheld"  # the emergency share should not have been made (the sharing is not undone)
    OVERTURNED = "overturned"  # on reconsideration, a new decision replaces it


class DecisionKind(StrEnum):
    """Who made a decision.

    - `rules`: the policy's rules, at submission or amendment.
    - `guardian`: a Caldicott Guardian deciding a referral.
    - `retrospective`: a guardian's retrospective review of an emergency share.
    - `reconsideration`: a guardian's decision on a request for reconsideration: upheld, or a new outcome.
    - `panel`: a panel of guardians, by majority, or the chair's casting vote on a tie.
    """

    RULES = "rules"
    GUARDIAN = "guardian"
    RETROSPECTIVE = "retrospective"
    RECONSIDERATION = "reconsideration"
    PANEL = "panel"


class OpinionChoice(StrEnum):
    """A second guardian's opinion on the outcome the claim holder proposes.

    - `agree`: agrees with the proposed outcome.
    - `disagree`: disagrees with it.
    - `abstain`: gives no view.
    """

    AGREE = "agree"
    DISAGREE = "disagree"
    ABSTAIN = "abstain"


class PanelVoteChoice(StrEnum):
    """A panel member's vote; an abstention is a vote cast, but counts neither towards the quorum nor for an
    outcome.

    - `approve`: for approval.
    - `approve_with_conditions`: for approval on the conditions the member gives.
    - `refuse`: for refusal.
    - `abstain`: no view.
    """

    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFUSE = "refuse"
    ABSTAIN = "abstain"


class AttachmentKind(StrEnum):
    """What a piece of evidence attached to a sharing request (or an agreement's signed copy) is.

    - `court_order`: a court order, witness summons or coroner's notice.
    - `police_request_form`: a police force's data protection request form.
    - `dpia`: a data protection impact assessment.
    - `consent_form`: a signed consent form.
    - `agreement`: a signed information sharing agreement.
    - `other`: anything else.
    """

    COURT_ORDER = "court_order"
    POLICE_REQUEST_FORM = "police_request_form"
    DPIA = "dpia"
    CONSENT_FORM = "consent_form"
    AGREEMENT = "agreement"
    OTHER = "other"


class VerificationOutcome(StrEnum):
    """A guardian's finding on a piece of evidence: only a `verified` one counts in the rules (brief section 7,
    Evidence).

    - `verified`: the evidence is what it claims to be and covers this request.
    - `rejected`: it is not, or does not.
    """

    VERIFIED = "verified"
    REJECTED = "rejected"


class Role(StrEnum):
    """What a token's `roles` claim lets its holder do.

    - `agency`: a partner agency's system: submits and follows its own organisation's requests.
    - `guardian`: a Caldicott Guardian of the controller: decides referred requests.
    - `auditor`: reads the decision log, reports and audit trail.
    - `admin`: registers organisations, agreements and policies.
    - `ig_manager`: the controller's information governance: records the controller's checks (brief section 5).
    - `siro`: the controller's Senior Information Risk Owner: owns the information risk of what is disclosed.
    - `dpo`: the controller's Data Protection Officer: advises on data protection and is told of incidents.
    - `iao`: an information asset owner of the controller: owns systems that hold person-identifiable information.
    - `safeguarding_lead`: a safeguarding lead of the controller, whom a guardian consults on safeguarding cases.
    """

    AGENCY = "agency"
    GUARDIAN = "guardian"
    AUDITOR = "auditor"
    ADMIN = "admin"
    IG_MANAGER = "ig_manager"
    SIRO = "siro"
    DPO = "dpo"
    IAO = "iao"
    SAFEGUARDING_LEAD = "safeguarding_lead"


class ConsultedRole(StrEnum):
    """Whom a guardian may consult inside a case: the controller's key relationships (each a `Role` of the same name).

    - `safeguarding_lead`: any safeguarding lead of the controller.
    - `dpo`: the controller's Data Protection Officer.
    - `siro`: the controller's Senior Information Risk Owner.
    - `iao`: a named information asset owner of the controller (the consultation names its token subject).
    """

    SAFEGUARDING_LEAD = "safeguarding_lead"
    DPO = "dpo"
    SIRO = "siro"
    IAO = "iao"


class ConsultationStatus(StrEnum):
    """Where a consultation stands.

    - `open`: asked, not yet answered, before its due time.
    - `overdue`: asked, not yet answered, and its due time has passed (it may still be answered).
    - `answered`: answered; the answer is recorded.
    """

    OPEN = "open"
    OVERDUE = "overdue"
    ANSWERED = "answered"


class DisclosureStatus(StrEnum):
    """Where one asset's part of an approved request stands.

    - `pending`: approved and ready to disclose; the asset's owner has not recorded it yet.
    - `disclosed`: recorded as sent: the items, the channel and when.
    - `not_disclosed`: recorded as not sent, with the reason.
    - `cancelled`: the requester cancelled the request before anything was disclosed.
    """

    PENDING = "pending"
    DISCLOSED = "disclosed"
    NOT_DISCLOSED = "not_disclosed"
    CANCELLED = "cancelled"


class DisclosureChannel(StrEnum):
    """The secure channel a disclosure went by.

    - `nhsmail`: NHSmail, or another DCB1596-accredited secure email service.
    - `mesh`: the Message Exchange for Social Care and Health.
    - `sftp`: secure file transfer to the recipient's server.
    - `api`: a system-to-system interface.
    - `recorded_post`: recorded or special delivery post.
    - `in_person`: handed over in person.
    """

    NHSMAIL = "nhsmail"
    MESH = "mesh"
    SFTP = "sftp"
    API = "api"
    RECORDED_POST = "recorded_post"
    IN_PERSON = "in_person"


class CheckStatus(StrEnum):
    """Where a controller's check stands: the outcome of its latest record, or `open` before any.

    - `open`: not recorded yet; the disclosure waits for it.
    - `done`: recorded done.
    - `failed`: recorded failed; the request went back to a guardian.
    """

    OPEN = "open"
    DONE = "done"
    FAILED = "failed"


class CheckOutcome(StrEnum):
    """What a person of the controller records of a check.

    - `done`: the check was made and passed.
    - `failed`: the check was made and failed; the request goes back to a guardian.
    """

    DONE = "done"
    FAILED = "failed"
