"""Evidence attached to a sharing request (or an agreement's signed copy), and the content it names by SHA-256.

An attachment row records what was attached, by whom, and the SHA-256 of its content; the
content itself is stored once per hash (app/services/attachments/store.py): on PostgreSQL as
chunk rows of attachment_chunks under an attachment_blobs row, on SQLite as a file named by
the hash, with the attachment_blobs row saying it is there. Rows are never deleted: a purge at
the end of retention removes the content and stamps `purged_at`, and the hash stays.
"""

from datetime import datetime
from enum import StrEnum

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, LargeBinary, String
from sqlmodel import SQLModel

from app.models.base import GUARDIAN_UNNAMED, UTCDateTime, enum_column
from app.models.page import Page
from app.models.sharing_request import new_id
from app.models.verification import VerificationPublic
from app.models.vocabulary import AttachmentKind

MAX_FILENAME_CHARS = 255
MAX_DESCRIPTION_CHARS = 1000


class MediaType(StrEnum):
    """What the content was found to be, by its first bytes (never by its name or the client's say).

    - `application/pdf`: a PDF document.
    - `image/png`: a PNG image.
    - `image/jpeg`: a JPEG image.
    - `text/plain`: UTF-8 text, served with `; charset=utf-8`.
    """

    PDF = "application/pdf"
    PNG = "image/png"
    JPEG = "image/jpeg"
    TEXT = "text/plain"


class Attachment(SQLModel, table=True):
    """One piece of evidence: a request's or an agreement's (exactly one of them), its kind,
    name, size and content hash."""

    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint(
            "(request_id IS NOT NULL AND agreement_code IS NULL) OR "
            "(request_id IS NULL AND agreement_code IS NOT NULL)",
            name="one_owner",
        ),
        Index("ix_attachments_request_uploaded", "request_id", "uploaded_at", "id"),
        Index("ix_attachments_agreement_uploaded", "agreement_code", "uploaded_at", "id"),
        # What an organisation attached today (app/services/attachments/quotas.py).
        Index("ix_attachments_org_uploaded", "uploaded_by_org", "uploaded_at"),
        # Whether other attachments still need a content when one is purged.
        Index("ix_attachments_sha256", "sha256"),
    )

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    request_id: str | None = sqlmodel.Field(
        default=None, sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=True)
    )
    agreement_code: str | None = sqlmodel.Field(
        default=None, sa_column=Column(String(64), ForeignKey("sharing_agreements.code"), nullable=True)
    )
    kind: AttachmentKind = sqlmodel.Field(sa_column=enum_column(AttachmentKind, 32))
    filename: str | None = sqlmodel.Field(default=None, max_length=MAX_FILENAME_CHARS)
    description: str | None = sqlmodel.Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    media_type: MediaType = sqlmodel.Field(sa_column=enum_column(MediaType, 32))
    size: int = sqlmodel.Field(sa_column=Column(BigInteger(), nullable=False))
    sha256: str = sqlmodel.Field(max_length=64)
    uploaded_by: str = sqlmodel.Field(max_length=200)
    uploaded_by_org: str = sqlmodel.Field(max_length=32)
    uploaded_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    purged_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class AttachmentBlob(SQLModel, table=True):
    """A content the store holds, once however many attachments name it; the row goes when the content is purged."""

    __tablename__ = "attachment_blobs"

    sha256: str = sqlmodel.Field(primary_key=True, max_length=64)
    size: int = sqlmodel.Field(sa_column=Column(BigInteger(), nullable=False))
    stored_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))


class AttachmentChunk(SQLModel, table=True):
    """PostgreSQL only: one bounded piece of a content, in order;
    `blob_key` is its SHA-256, or `staging:<uuid>` while it arrives."""

    __tablename__ = "attachment_chunks"

    blob_key: str = sqlmodel.Field(primary_key=True, max_length=80)
    seq: int = sqlmodel.Field(primary_key=True)
    content: bytes = sqlmodel.Field(sa_column=Column(LargeBinary(), nullable=False))
    created_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))


class AttachmentPublic(BaseModel):
    """An attachment's record; its content is at `download` until `purged_at`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3c9e1f7a-2b4d-4e6f-8a1c-5d7e9f0a2b4c",
                    "request_id": "0b6f8a0e-3c1d-4b7e-9f2a-5d8c1e4a7b22",
                    "agreement_code": None,
                    "kind": "court_order",
                    "filename": "order-2026-11-24.pdf",
                    "description": "Sealed order of the family court, case FD26P01234",
                    "media_type": "application/pdf",
                    "size": 482113,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "uploaded_by": "pc-4471",
                    "uploaded_by_org": "POL01",
                    "uploaded_at": "2026-11-27T10:15:00Z",
                    "purged_at": None,
                    "download": "/v1/sharing-requests/0b6f8a0e-3c1d-4b7e-9f2a-5d8c1e4a7b22"
                    "/attachments/3c9e1f7a-2b4d-4e6f-8a1c-5d7e9f0a2b4c",
                    "verification": None,
                }
            ]
        }
    )

    id: str = Field(description="The attachment's id (a UUID).")
    request_id: str | None = Field(
        description="The sharing request it is evidence for (null for an agreement's signed copy)"
    )
    agreement_code: str | None = Field(
        description="The sharing agreement it is a copy of (null for a request's evidence)"
    )
    kind: AttachmentKind = Field(
        description=(
            "What the evidence is, as the uploader said: a court order, a police request form, a "
            "DPIA, a consent form, an agreement or other."
        )
    )
    filename: str | None = Field(
        description="The name the file was sent with, without any folder; null if none was given"
    )
    description: str | None = Field(
        description="What the uploader said it is (at most 500 characters); null when none."
    )
    media_type: MediaType = Field(
        description="What the content was found to be by its first bytes, whatever the client said"
    )
    size: int = Field(description="Bytes of content")
    sha256: str = Field(
        description="SHA-256 of the content, in hex; the download's ETag and the audit trail carry it too"
    )
    uploaded_by: str = Field(description="The token subject of who attached it; " + GUARDIAN_UNNAMED)
    uploaded_by_org: str = Field(description="The code of the organisation of who attached it.")
    uploaded_at: datetime = Field(description="When it was attached (UTC).")
    purged_at: datetime | None = Field(
        description="When retention ended and the content was removed (the download then answers 410); null until then"
    )
    download: str = Field(description="Where to download the content (410 once purged)")
    verification: VerificationPublic | None = Field(
        description=(
            "A request's evidence: the latest verification by a guardian, which is the one that counts; null until one "
            "is recorded (and for an agreement's documents). Only evidence whose latest verification is "
            "`verified` counts in the rules"
        )
    )

    @classmethod
    def of(cls, row: Attachment, verification: VerificationPublic | None = None) -> "AttachmentPublic":
        """The public form of a row, with the URL of its content under its request or agreement,
        and its latest verification."""
        owner = (
            f"/v1/sharing-requests/{row.request_id}"
            if row.request_id is not None
            else f"/v1/sharing-agreements/{row.agreement_code}"
        )
        download = f"{owner}/attachments/{row.id}"
        fields = {name: getattr(row, name) for name in cls.model_fields if name not in ("download", "verification")}
        return cls(**fields, download=download, verification=verification)


class AttachmentPage(Page[AttachmentPublic]):
    pass
