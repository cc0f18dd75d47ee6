"""The actions the event seam records: what happens to requests, what admins do,
webhook endpoint changes, which reports are run."""

from enum import StrEnum


class RequestAction(StrEnum):
    """Things that happen to a sharing request."""

    SUBMITTED = "submitted"
    CLAIMED = "claimed"
    RELEASED = "released"
    CLAIM_EXPIRED = "claim_expired"
    REVIEWED = "reviewed"
    INFORMATION_REQUESTED = "information_requested"
    AMENDED = "amended"
    WITHDRAWN = "withdrawn"
    RETROSPECTIVE_REVIEWED = "retrospective_reviewed"
    RECONSIDERATION_REQUESTED = "reconsideration_requested"
    RECONSIDERED = "reconsidered"
    OPINION_REQUESTED = "opinion_requested"
    OPINION_GIVEN = "opinion_given"
    PANEL_OPENED = "panel_opened"
    PANEL_VOTED = "panel_voted"
    PANEL_VOTE_WITHDRAWN = "panel_vote_withdrawn"
    PANEL_DECIDED = "panel_decided"
    OVERDUE = "overdue"
    READ = "read"
    HISTORY_READ = "history_read"
    NOTICE_READ = "notice_read"
    NOTICE_PREVIEWED = "notice_previewed"  # a guardian read a withheld subject's notice (brief section 6, rule 1)
    NOTICE_RELEASED = "notice_released"  # a guardian released a withheld subject's notice
    # Evidence attached to the request: each outcome names the content's SHA-256
    # (`sha256:<hex>`), which the chain then holds.
    ATTACHMENT_ADDED = "attachment_added"
    ATTACHMENT_READ = "attachment_read"
    ATTACHMENT_PURGED = "attachment_purged"  # its retention ended: the content removed, the row and the hash kept
    # `caldicott subjects rekey` moved the request's subject lookup rows to the current subject key (the outcome names
    # how many and the version); the stored body and its hash are never changed.
    SUBJECT_HASHES_REKEYED = "subject_hashes_rekeyed"
    # A guardian verified or rejected an attachment: the outcome names it (`verified court_order <attachment id>`).
    EVIDENCE_VERIFIED = "evidence_verified"
    # At the first start after verification came in:
    # a decision let unverified evidence clear a condition, so a guardian reviews it.
    UNVERIFIED_EVIDENCE_LISTED = "unverified_evidence_listed"
    FHIR_READ = "fhir_read"  # the request's decisions exported as a FHIR Bundle
    # The controller's checks (brief section 5): a record of one (its outcome names the check), a failure sending the
    # request back to the queue, an emergency share's check still open after the emergency response time.
    CONTROLLER_CHECK_RECORDED = "controller_check_recorded"
    CONTROLLER_CHECK_FAILED = "controller_check_failed"
    CONTROLLER_CHECK_OVERDUE = "controller_check_overdue"


class AdminAction(StrEnum):
    """Things an admin does to organisations, agreements and policies."""

    ORGANISATION_REGISTERED = "organisation_registered"
    ORGANISATION_CHANGED = "organisation_changed"
    AGREEMENT_REGISTERED = "agreement_registered"
    AGREEMENT_CHANGED = "agreement_changed"
    AGREEMENT_DOCUMENT_ADDED = (
        "agreement_document_added"  # its signed copy or DPIA uploaded; the outcome names the SHA-256
    )
    AGREEMENT_DOCUMENT_READ = "agreement_document_read"
    POLICY_UPLOADED = "policy_uploaded"
    POLICY_ACTIVATED = "policy_activated"


class WebhookAction(StrEnum):
    """Things an agency or admin does to its webhook endpoints (at most 40 characters: the audit column's width)."""

    ENDPOINT_REGISTERED = "webhook_endpoint_registered"
    ENDPOINT_CHANGED = "webhook_endpoint_changed"
    SECRET_ROTATED = "webhook_secret_rotated"
    ENDPOINT_DELETED = "webhook_endpoint_deleted"
    REDELIVERY_REQUESTED = "webhook_redelivery_requested"


class ReportAction(StrEnum):
    """Someone ran a report or looked at the audit trail."""

    DECISION_LOG_EXPORTED = "decision_log_exported"
    SUBJECT_DISCLOSURES_SEARCHED = "subject_disclosures_searched"
    AUDIT_EVENTS_LISTED = "audit_events_listed"
    AUDIT_VERIFIED = "audit_verified"
    POLICY_REPLAYED = "policy_replayed"
    AGREEMENTS_REPORTED = "agreements_reported"


class NoticeAction(StrEnum):
    """Notices the service sends of its own accord (the webhook worker's clock), about an agreement's dates."""

    AGREEMENT_REVIEW_DUE = "agreement_review_due_announced"
    AGREEMENT_EXPIRING = "agreement_expiring_announced"


# Every action the audit trail can hold, for filtering it.
_KINDS = (RequestAction, AdminAction, WebhookAction, ReportAction, NoticeAction)
AuditAction = StrEnum("AuditAction", {member.name: member.value for kind in _KINDS for member in kind})  # type: ignore[misc]

__all__ = ["AdminAction", "AuditAction", "NoticeAction", "ReportAction", "RequestAction", "WebhookAction"]
