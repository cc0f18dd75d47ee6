"""Every table, imported once so that SQLModel.metadata is complete (Alembic, tests)."""

from app.models.agreement import AgreementNotice, SharingAgreement, SharingAgreementVersion
from app.models.attachment import Attachment, AttachmentBlob, AttachmentChunk
from app.models.audit import AuditCheckpoint, AuditEvent, AuditPending
from app.models.console import ConsoleSession
from app.models.consultation import Consultation
from app.models.controller_check import ControllerCheck, ControllerCheckRecord
from app.models.disclosure import Disclosure
from app.models.idempotency import IdempotencyRecord
from app.models.incident import Incident
from app.models.information_asset import InformationAsset
from app.models.notice_release import NoticeRelease
from app.models.notification import EmailMessage, Person
from app.models.opinion import Opinion, OpinionRequest
from app.models.organisation import Organisation
from app.models.panel import Panel, PanelMember, PanelVote
from app.models.policy import PolicyActivation, PolicyReplay, PolicyReplayChange, StoredPolicy
from app.models.rate_limit import RateLimitBucket
from app.models.reconsideration import Reconsideration
from app.models.register import RegisterWithholding
from app.models.sharing_request import Decision, RequestSubject, RequestVersion, SharingRequest, Transition
from app.models.upgrade import UpgradeStep
from app.models.verification import AttachmentVerification
from app.models.webhook import (
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEgressRecord,
    WebhookEndpoint,
    WebhookEventSequence,
)

__all__ = [
    "AgreementNotice",
    "Attachment",
    "AttachmentBlob",
    "AttachmentChunk",
    "AttachmentVerification",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditPending",
    "ConsoleSession",
    "Consultation",
    "ControllerCheck",
    "ControllerCheckRecord",
    "Disclosure",
    "Decision",
    "EmailMessage",
    "IdempotencyRecord",
    "Incident",
    "InformationAsset",
    "NoticeRelease",
    "Opinion",
    "OpinionRequest",
    "Organisation",
    "OutboxEvent",
    "Panel",
    "PanelMember",
    "PanelVote",
    "Person",
    "PolicyActivation",
    "PolicyReplay",
    "PolicyReplayChange",
    "RateLimitBucket",
    "Reconsideration",
    "RegisterWithholding",
    "RequestSubject",
    "RequestVersion",
    "SharingAgreement",
    "SharingAgreementVersion",
    "SharingRequest",
    "StoredPolicy",
    "Transition",
    "UpgradeStep",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEgressRecord",
    "WebhookEndpoint",
    "WebhookEventSequence",
]
