"""The actions the event seam records: what happens to requests, what admins do,
webhook endpoint changes, which reports are run."""

import inspect
from enum import StrEnum


class RequestAction(StrEnum):
    """Things that happen to a sharing request, as its history and the audit trail record them.

    - `submitted`: the requester submitted it and the rules decided it.
    - `claimed`: a guardian claimed it from the queue.
    - `released`: the guardian holding the claim gave it back to the queue.
    - `claim_expired`: a claim lapsed and the request went back to the queue.
    - `claim_renewed`: the guardian holding the claim renewed it for another lease.
    - `handed_over`: the guardian holding the claim handed it to a named colleague, with a note.
    - `reviewed`: a guardian or panel decided it.
    - `information_requested`: a guardian asked the requester for more information.
    - `amended`: the requester answered with a revised request, decided again by the rules.
    - `withdrawn`: the requester withdrew it (before a final decision, or an approval before anything was disclosed).
    - `retrospective_reviewed`: a guardian reviewed an emergency share afterwards.
    - `reconsideration_requested`: the requester asked for a decision to be reconsidered.
    - `reconsidered`: a guardian reconsidered the decision.
    - `opinion_requested`: a guardian asked another for a second opinion.
    - `opinion_given`: a guardian gave a second opinion.
    - `consultation_requested`: the claim holder consulted a safeguarding lead, the DPO, the SIRO or a named IAO.
    - `consultation_answered`: the person consulted answered.
    - `panel_opened`: a panel of guardians was convened.
    - `panel_voted`: a panel member voted.
    - `panel_vote_withdrawn`: a panel member withdrew from the panel.
    - `panel_decided`: the panel's chair closed it with its decision.
    - `overdue`: it passed its response deadline without a decision.
    - `read`: someone read it.
    - `history_read`: someone read its history.
    - `notice_read`: someone read its decision notice.
    - `notice_previewed`: a guardian read a withheld subject's notice (brief section 6, rule 1).
    - `notice_released`: a guardian released a withheld subject's notice.
    - `attachment_added`: evidence was attached; the outcome names the content's SHA-256 (`sha256:<hex>`).
    - `attachment_read`: an attachment's content was downloaded.
    - `attachment_purged`: an attachment's retention ended: its content removed, its row and hash kept.
    - `subject_hashes_rekeyed`: `caldicott subjects rekey` moved its subject lookup rows to the current subject key
      (the outcome names how many and the version); the stored body and its hash are never changed.
    - `evidence_verified`: a guardian verified or rejected an attachment; the outcome names it.
    - `unverified_evidence_listed`: a decision let unverified evidence clear a condition, so a guardian reviews it.
    - `fhir_read`: its decisions were exported as a FHIR Bundle.
    - `controller_check_recorded`: a controller's check was recorded; the outcome names it.
    - `controller_check_failed`: a controller's check failed and sent the request back to the queue.
    - `controller_check_overdue`: an emergency share's check was still open after the emergency response time.
    - `incident_recorded`: an incident was recorded against one of its disclosures; the outcome names the incident.
    - `incident_graded`: an incident's likelihood and severity were graded again; the outcome names the grades.
    - `incident_reported`: an incident was recorded as reported to the ICO (the outcome names the incident).
    - `recall_confirmed`: the recipient confirmed it returned or destroyed the data an incident recalled.
    - `incident_closed`: an incident was closed with its outcome and lessons.
    - `disclosure_recorded`: an asset's owner (or an IG manager) recorded one of its disclosures as sent or not sent;
      the outcome names the disclosure and what was recorded.
    """

    SUBMITTED = "submitted"
    CLAIMED = "claimed"
    RELEASED = "released"
    CLAIM_EXPIRED = "claim_expired"
    CLAIM_RENEWED = "claim_renewed"
    HANDED_OVER = "handed_over"
    REVIEWED = "reviewed"
    INFORMATION_REQUESTED = "information_requested"
    AMENDED = "amended"
    WITHDRAWN = "withdrawn"
    RETROSPECTIVE_REVIEWED = "retrospective_reviewed"
    RECONSIDERATION_REQUESTED = "reconsideration_requested"
    RECONSIDERED = "reconsidered"
    OPINION_REQUESTED = "opinion_requested"
    OPINION_GIVEN = "opinion_given"
    CONSULTATION_REQUESTED = "consultation_requested"
    CONSULTATION_ANSWERED = "consultation_answered"
    PANEL_OPENED = "panel_opened"
    PANEL_VOTED = "panel_voted"
    PANEL_VOTE_WITHDRAWN = "panel_vote_withdrawn"
    PANEL_DECIDED = "panel_decided"
    OVERDUE = "overdue"
    READ = "read"
    HISTORY_READ = "history_read"
    NOTICE_READ = "notice_read"
    NOTICE_PREVIEWED = "notice_previewed"
    NOTICE_RELEASED = "notice_released"
    ATTACHMENT_ADDED = "attachment_added"
    ATTACHMENT_READ = "attachment_read"
    ATTACHMENT_PURGED = "attachment_purged"
    SUBJECT_HASHES_REKEYED = "subject_hashes_rekeyed"
    EVIDENCE_VERIFIED = "evidence_verified"
    UNVERIFIED_EVIDENCE_LISTED = "unverified_evidence_listed"
    FHIR_READ = "fhir_read"
    CONTROLLER_CHECK_RECORDED = "controller_check_recorded"
    CONTROLLER_CHECK_FAILED = "controller_check_failed"
    CONTROLLER_CHECK_OVERDUE = "controller_check_overdue"
    INCIDENT_RECORDED = "incident_recorded"
    INCIDENT_GRADED = "incident_graded"
    INCIDENT_REPORTED = "incident_reported"
    RECALL_CONFIRMED = "recall_confirmed"
    INCIDENT_CLOSED = "incident_closed"
    DISCLOSURE_RECORDED = "disclosure_recorded"


class AdminAction(StrEnum):
    """Things an admin (or an IG manager or asset owner) does to organisations, agreements, assets and policies.

    - `organisation_registered`: an organisation was registered.
    - `organisation_changed`: an organisation was changed or deactivated.
    - `agreement_registered`: a sharing agreement was registered.
    - `agreement_changed`: a sharing agreement was changed or suspended.
    - `agreement_document_added`: an agreement's signed copy or DPIA was uploaded; the outcome names its SHA-256.
    - `agreement_document_read`: an agreement's document was downloaded.
    - `policy_uploaded`: a derived policy was uploaded.
    - `policy_activated`: a policy was activated.
    - `register_entry_withheld`: a request's entry was withheld from the public data uses register.
    - `register_entry_restored`: a withheld entry was put back in the public data uses register.
    - `information_asset_registered`: an information asset was added to the register.
    - `information_asset_changed`: an information asset was changed (by an IG manager, an admin or its owner).
    """

    ORGANISATION_REGISTERED = "organisation_registered"
    ORGANISATION_CHANGED = "organisation_changed"
    AGREEMENT_REGISTERED = "agreement_registered"
    AGREEMENT_CHANGED = "agreement_changed"
    AGREEMENT_DOCUMENT_ADDED = "agreement_document_added"
    AGREEMENT_DOCUMENT_READ = "agreement_document_read"
    POLICY_UPLOADED = "policy_uploaded"
    POLICY_ACTIVATED = "policy_activated"
    REGISTER_ENTRY_WITHHELD = "register_entry_withheld"
    REGISTER_ENTRY_RESTORED = "register_entry_restored"
    INFORMATION_ASSET_REGISTERED = "information_asset_registered"
    INFORMATION_ASSET_CHANGED = "information_asset_changed"


class WebhookAction(StrEnum):
    """Things an agency or admin does to its webhook endpoints (at most 40 characters: the audit column's width).

    - `webhook_endpoint_registered`: an endpoint was registered.
    - `webhook_endpoint_changed`: an endpoint was enabled, disabled or changed.
    - `webhook_secret_rotated`: an endpoint's signing secret was rotated.
    - `webhook_endpoint_deleted`: an endpoint was deleted.
    - `webhook_redelivery_requested`: a delivery was sent again on request.
    - `webhook_redeliveries_requested`: every delivery to an endpoint since a time was queued again.
    - `webhook_test_sent`: a `webhook.test` event was sent to an endpoint on request.
    - `webhook_egress_changed`: the service started with another allow-list of networks, ports or proxy for webhooks.
    """

    ENDPOINT_REGISTERED = "webhook_endpoint_registered"
    ENDPOINT_CHANGED = "webhook_endpoint_changed"
    SECRET_ROTATED = "webhook_secret_rotated"
    ENDPOINT_DELETED = "webhook_endpoint_deleted"
    REDELIVERY_REQUESTED = "webhook_redelivery_requested"
    REDELIVERIES_REQUESTED = "webhook_redeliveries_requested"
    TEST_SENT = "webhook_test_sent"
    EGRESS_CHANGED = "webhook_egress_changed"


class ReportAction(StrEnum):
    """Someone ran a report or looked at the audit trail.

    - `decision_log_exported`: the decision log was read.
    - `subject_disclosures_searched`: a person's disclosures were searched for.
    - `audit_events_listed`: the audit trail was listed.
    - `audit_verified`: the audit trail was verified.
    - `policy_replayed`: a policy replay was run.
    - `agreements_reported`: the agreements report was read.
    - `information_risk_reported`: the SIRO's information-risk report was read.
    """

    DECISION_LOG_EXPORTED = "decision_log_exported"
    SUBJECT_DISCLOSURES_SEARCHED = "subject_disclosures_searched"
    AUDIT_EVENTS_LISTED = "audit_events_listed"
    AUDIT_VERIFIED = "audit_verified"
    POLICY_REPLAYED = "policy_replayed"
    AGREEMENTS_REPORTED = "agreements_reported"
    INFORMATION_RISK_REPORTED = "information_risk_reported"


class NoticeAction(StrEnum):
    """Notices the service sends of its own accord (the webhook worker's clock), about an agreement's dates.

    - `agreement_review_due_announced`: an agreement's review date was announced as due.
    - `agreement_expiring_announced`: an agreement's end was announced as near.
    """

    AGREEMENT_REVIEW_DUE = "agreement_review_due_announced"
    AGREEMENT_EXPIRING = "agreement_expiring_announced"


class SignInAction(StrEnum):
    """A person signing in to or out of the console (the target is their `sub`; the outcome says how they signed in).

    - `console_signed_in`: a person signed in to the console.
    - `console_signed_out`: a person signed out of the console.
    """

    SIGNED_IN = "console_signed_in"
    SIGNED_OUT = "console_signed_out"


# Every action the audit trail can hold, for filtering it.
_KINDS = (RequestAction, AdminAction, WebhookAction, ReportAction, NoticeAction, SignInAction)
AuditAction = StrEnum("AuditAction", {member.name: member.value for kind in _KINDS for member in kind})  # type: ignore[misc]
# Its description lists every value with the meaning its kind gives it.
AuditAction.__doc__ = "Every action the audit trail can hold.\n\n" + "\n".join(
    inspect.cleandoc(kind.__doc__ or "").split("\n\n", 1)[1] for kind in _KINDS
)

__all__ = [
    "AdminAction",
    "AuditAction",
    "NoticeAction",
    "ReportAction",
    "RequestAction",
    "SignInAction",
    "WebhookAction",
]
