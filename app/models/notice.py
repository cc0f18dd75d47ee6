"""A decision notice: the latest final decision on a request, told in plain English,
for the requester or the person it is about."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.models.vocabulary import (
    DataCategory,
    DataForm,
    DecisionKind,
    DecisionOutcome,
    PurposeCategory,
    StorageRegion,
    Urgency,
)


class NoticeAudience(StrEnum):
    """Whom a notice is addressed to.

    - `requester`: the requesting agency (and guardians and auditors, who read what it reads).
    - `subject`: the person the information is about (Caldicott principle 8); for a mixed group, the children's.
    - `subject_adults`: a mixed group's adults and young people (brief section 6, rule 6).
    - `subject_proxy`: the health-and-welfare attorney or deputy who gave or refused consent.
    """

    REQUESTER = "requester"
    SUBJECT = "subject"
    SUBJECT_ADULTS = "subject_adults"
    SUBJECT_PROXY = "subject_proxy"


class WithheldReason(StrEnum):
    """Why the subject's notice may not be sent yet (brief section 6, rule 1).

    - `prejudice`: telling the person would prejudice the purpose.
    - `purpose`: crime prevention or safeguarding: telling could alert a suspect or an abuser.
    - `parental_responsibility`: it goes to a parent whom no guardian has confirmed is not implicated.
    - `proxy`: it goes to an attorney or deputy whom no guardian has confirmed is not implicated.
    - `deceased`: it goes to a personal representative whom no guardian has named.
    - `controller_checks_open`: a controller's check of the decision is open; ends by itself.
    """

    PREJUDICE = "prejudice"
    PURPOSE = "purpose"
    PARENTAL_RESPONSIBILITY = "parental_responsibility"
    PROXY = "proxy"
    DECEASED = "deceased"
    CONTROLLER_CHECKS_OPEN = "controller_checks_open"


class Addressee(StrEnum):
    """Whom the notice is written to.

    - `requester`: the requesting agency.
    - `person`: the person themselves (an adult, a young person, a Gillick-competent child).
    - `parent`: a person with parental responsibility for a child who is not competent.
    - `adults`: the adults and young people of a mixed group.
    - `proxy`: the attorney or deputy for personal welfare.
    - `personal_representative`: the personal representative of a person who has died.
    """

    REQUESTER = "requester"
    PERSON = "person"
    PARENT = "parent"
    ADULTS = "adults"
    PROXY = "proxy"
    PERSONAL_REPRESENTATIVE = "personal_representative"


class NoticeFormat(StrEnum):
    """The media types a notice is given in.

    - `application/json`: the notice's data, as JSON.
    - `text/html`: a printable HTML letter.
    - `text/markdown`: the letter in Markdown.
    - `text/plain`: the letter as plain text.
    """

    JSON = "application/json"
    HTML = "text/html"
    MARKDOWN = "text/markdown"
    PLAIN = "text/plain"


class ConditionSource(StrEnum):
    """Who set a condition of the decision.

    - `policy`: a rule of the policy set it; its wording is the policy's.
    - `guardian`: the Caldicott Guardian set it in deciding.
    """

    POLICY = "policy"
    GUARDIAN = "guardian"


class EarlierReconsideration(StrEnum):
    """Where a request to reconsider the decision in the notice stands.

    - `requested`: asked for; a guardian has yet to answer.
    - `upheld`: answered: the decision stands.
    """

    REQUESTED = "requested"
    UPHELD = "upheld"


class NoticeOrganisation(BaseModel):
    code: str = Field(description="The organisation's registered code.")
    name: str = Field(description="The organisation's registered name.")


class NoticePurpose(BaseModel):
    category: PurposeCategory = Field(description="The purpose category of the request as decided.")
    label: str = Field(description="The purpose in plain words")
    description: str | None = Field(
        description="The requester's own words; never in a notice for the person the information is about"
    )


class NoticeItem(BaseModel):
    """One kind of information asked for, and whether it may be shared."""

    category: DataCategory = Field(description="The data category asked for.")
    label: str = Field(description="The data category in plain words.")
    form: DataForm = Field(description="How identifiable the item was asked for.")
    form_label: str = Field(description="The form in plain words.")
    justification: str | None = Field(
        description="Why the requester said it was needed; never in a notice for the person the information is about"
    )
    may_be_shared: bool = Field(
        description=(
            "True when the decision lets this item be shared; false when it was refused (a partial"
            " approval, or a refusal)."
        )
    )


class NoticeCondition(BaseModel):
    """An obligation on the recipient."""

    source: ConditionSource = Field(description="Who set the condition: a rule of the `policy`, or the `guardian`.")
    rule: str | None = Field(description="The policy rule that set it; null for a guardian's condition")
    text: str = Field(description="The obligation as the decision states it")
    explanation: str | None = Field(description="Why the policy asks it, in plain words")


class NoticeFinding(BaseModel):
    """A rule that did not simply pass, and what it found."""

    rule: str = Field(description="The rule's id, such as `CONSENT.public_interest`.")
    result: str = Field(description="What the rule found: `condition`, `refer` or `refuse`.")
    reason: str = Field(description="The policy's reason for the finding, in plain words.")


class NoticePrinciple(BaseModel):
    """A Caldicott principle (or another area of the policy, such as consent) that the decision engaged."""

    principle: int | None = Field(description="1 to 8; null for an area beside the principles, such as consent")
    title: str = Field(description="The principle as the policy states it")
    plain: str = Field(description="What it means, in plain words")
    findings: list[NoticeFinding] = Field(description="The findings under this principle that did not simply pass.")


class NoticeDecider(BaseModel):
    """Who made the decision."""

    kind: DecisionKind = Field(
        description=(
            "Who decided: the `rules`, a `guardian`, a `retrospective` review, a `reconsideration` or a `panel`."
        )
    )
    statement: str = Field(description='"the rules of policy NAME VERSION" or "a Caldicott Guardian of ORGANISATION"')
    organisation: NoticeOrganisation | None = Field(description="A guardian's organisation; null for the rules")
    policy_name: str = Field(description="The name of the policy in force for the decision.")
    policy_version: str = Field(description="The version of that policy.")


class NoticeRecipient(BaseModel):
    """How the recipient said it would hold the information (from the request as decided)."""

    retention_days: int = Field(description="How many days the recipient said it would keep the information.")
    onward_sharing: bool = Field(description="Whether the recipient said it would pass the information on.")
    storage_region: StorageRegion = Field(description="Where the recipient said it would store the information.")
    storage_label: str = Field(description="The storage region in plain words.")


class ReconsiderationOffer(BaseModel):
    """How the requester may ask for the decision to be looked at again, and by when."""

    deadline: datetime = Field(description="The last moment a reconsideration may be asked for (UTC).")
    window_days: int = Field(
        description="How many days after the decision a reconsideration may be asked for (the policy's window)."
    )
    method: str = Field(default="POST", description="The HTTP method to ask with: always `POST`.")
    path: str = Field(description="Where to ask, giving the grounds")


class NoticeWithholding(BaseModel):
    """One reason the notice is withheld, in words."""

    reason: WithheldReason = Field(description="Why the notice for the person is withheld, as a code.")
    text: str = Field(description="What the reason means and what ends it")


class NoticeBasis(BaseModel):
    """What the decision rests on in law, in words (brief section 6, rule 2); for a person who has died, only the
    duty of confidence and the provision."""

    article_6: str | None = Field(description="The UK GDPR Article 6 basis; null for people who have died")
    article_9: str | None = Field(
        description="The Article 9 condition, with the DPA 2018 Schedule 1 paragraph when "
        "recorded; null when none applies"
    )
    article_10: str | None = Field(
        description="For criminal offence data: the Schedule 1 paragraph relied on for Article 10"
    )
    confidentiality: str = Field(description="The basis under the common law duty of confidence")
    provision: str | None = Field(
        description='The provision cited, by its registry title ("a provision the controller has not verified" when '
        "the registry does not hold it), or for section 251 support the regulation; null when none is cited"
    )


class NoticeCheck(BaseModel):
    """A controller's check: a step the controller takes itself before disclosure, never an obligation on the
    recipient."""

    check: str = Field(description="The rule id of the check, or `human_involvement`")
    text: str = Field(description="What the controller does, in plain words")
    status: str | None = Field(description="`open`, `done` or `failed`: in the requester's notice only")


class NoticeRefusalOverride(BaseModel):
    """A refusal of consent (the person's, or one made for them) that the decision did not follow (brief section 6,
    rule 4)."""

    by: str = Field(
        description="What or who did not follow it: the rules, an emergency share, a Caldicott Guardian or a panel"
    )
    ground: str = Field(description="On what ground, in words")
    subject_reason: str | None = Field(
        description="The guardian's reason for the person, when they wrote one (never their rationale)"
    )


class NoticeAutomated(BaseModel):
    """A decision made by the rules: the safeguards of UK GDPR Arts. 22A-22D (as substituted by the Data (Use and
    Access) Act 2025)."""

    checked_by_person: bool = Field(
        description="Whether a person of the controller checked it "
        "(its checks recorded done) before anything was disclosed"
    )
    statements: list[str] = Field(
        description="That the rules made it, whether a person checked it, and how to ask for review, make "
        "representations and contest it"
    )


class NoticeRights(BaseModel):
    """The rights of a living person, and whom to contact (brief section 6, rule 3)."""

    statements: list[str] = Field(
        description="Access, rectification and restriction; objection or withdrawing consent where they apply"
    )
    dpo_contact: str = Field(
        description="How to contact the controller's Data Protection Officer (CALDICOTT_DPO_CONTACT)"
    )
    ico_contact: str = Field(description="How to contact the Information Commissioner's Office (CALDICOTT_ICO_CONTACT)")
    opt_out: str | None = Field(
        description="How to register a national data opt-out, where the opt-out can apply; null elsewhere"
    )
    automated: NoticeAutomated | None = Field(
        description="For a decision made by the rules (an emergency share included); null otherwise"
    )


class DecisionNotice(BaseModel):
    """The latest final decision on a request, in plain English: the JSON form of the notice and what its other
    forms are rendered from."""

    audience: NoticeAudience = Field(
        description=(
            "Whom this form of the notice is for: the `requester`, the person (`subject`), a mixed"
            " group's adults, or a proxy."
        )
    )
    request_id: str = Field(description="The request's id.")
    decision_id: str = Field(description="The id of the decision the notice gives: the latest final one.")
    reference: str | None = Field(
        description="The requester's own case reference; never in a notice for the person the information is about"
    )
    requester: NoticeOrganisation = Field(description="The requesting organisation.")
    controller: NoticeOrganisation = Field(
        description="The controller: the organisation that runs this service and holds the information."
    )
    issued_at: datetime = Field(description="When this notice was produced (UTC).")
    decided_at: datetime = Field(description="When the decision was made (UTC).")
    outcome: DecisionOutcome = Field(description="The decision's outcome.")
    outcome_label: str = Field(description="The outcome in plain words.")
    partial: bool = Field(description="Approved for some of the information asked for, not all")
    emergency_share: bool = Field(
        description="Shared at once because of a risk to life or of serious harm, and reviewed by a guardian afterwards"
    )
    purpose: NoticePurpose = Field(description="Why the information was asked for.")
    urgency: Urgency = Field(description="The request's urgency.")
    urgency_label: str = Field(description="The urgency in plain words.")
    subject_count: int = Field(description="How many people the request covers.")
    information: list[NoticeItem] = Field(
        description="Each kind of information asked for, and whether it may be shared"
    )
    conditions: list[NoticeCondition] = Field(
        description="The obligations on the recipient, from the policy and the guardian."
    )
    guardian_conditions_withheld: int = Field(
        0,
        description="In a notice for the person the information is about: "
        "how many of the guardian's own conditions are not quoted",
    )
    recipient: NoticeRecipient = Field(description="How the recipient said it would hold the information.")
    decided_by: NoticeDecider = Field(description="Who made the decision, and under which policy.")
    rationale: str | None = Field(
        description="The guardian's written reasons; never in a notice for the person the information is about"
    )
    principles: list[NoticePrinciple] = Field(
        description=(
            "The Caldicott principles (and other areas such as consent) the decision engaged, with"
            " what each rule found."
        )
    )
    reconsideration: ReconsiderationOffer | None = Field(
        description="How to ask for reconsideration: only for a refusal or an approval with conditions not "
        "reconsidered before, and only in the requester's notice"
    )
    reconsidered: EarlierReconsideration | None = Field(
        None, description="Whether this decision has been put up for reconsideration, and how that stands"
    )
    reconsidered_at: datetime | None = Field(
        None, description="When reconsideration was asked for, or when the decision was upheld"
    )
    addressed_to: Addressee = Field(Addressee.REQUESTER, description="Whom the notice is written to")
    addressed_to_label: str = Field("", description="The addressee in words, as the notice opens")
    about: str = Field(
        "", description='Whom the information is about, in words ("you", "your child", "the person who has died")'
    )
    withheld: bool = Field(
        False, description="Withheld: do not send. Only in a guardian's preview (`preview=true`) of a withheld notice"
    )
    withheld_reasons: list[NoticeWithholding] = Field(
        [], description="Each reason the notice is withheld (with `withheld` true)"
    )
    basis: NoticeBasis | None = Field(None, description="The legal basis in words (rule 2); null for a refusal")
    controller_checks: list[NoticeCheck] = Field([], description="The controller's own checks of the decision (rule 7)")
    checks_pending: bool = Field(
        False,
        description="In the requester's notice: nothing will be disclosed until the controller's checks are complete",
    )
    refusal_not_followed: NoticeRefusalOverride | None = Field(
        None, description="In the person's notice: a refusal of consent the approval did not follow"
    )
    rights: NoticeRights | None = Field(
        None, description="In a notice to a living person: their rights and whom to contact"
    )
    after_death: list[str] = Field(
        [],
        description="In a notice about a person who has died: "
        "the duty of confidence and access to their health records",
    )
