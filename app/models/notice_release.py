"""A guardian's release of a withheld subject's notice (brief section 6, rule 1):
who, when, why, on which version of the request."""

from datetime import datetime
from typing import Annotated

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Column, ForeignKey, String
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, UTCDateTime, enum_column
from app.models.notice import NoticeAudience, WithheldReason
from app.models.sharing_request import new_id

ReleaseText = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=10, max_length=4000, pattern=STORABLE_TEXT)
]
PersonalRepresentative = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=2, max_length=500, pattern=STORABLE_TEXT)
]


class NoticeRelease(SQLModel, table=True):
    """One release of one audience's notice;
    never edited. It counts while the request stays at `version` (an amendment ends it)."""

    __tablename__ = "notice_releases"

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    audience: NoticeAudience = sqlmodel.Field(sa_column=enum_column(NoticeAudience, 32))
    version: int  # the request's version the release was given on
    why: str = sqlmodel.Field(max_length=4000)
    not_implicated: bool = False
    personal_representative: str | None = sqlmodel.Field(default=None, max_length=500)
    access_to_health_records_checked: bool = False
    by_sub: str = sqlmodel.Field(max_length=200)
    by_org: str = sqlmodel.Field(max_length=32)
    at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))


class NoticeReleaseBody(BaseModel):
    """A guardian's release of the withheld notice for one audience."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "audience": "subject",
                    "why": "The investigation has been charged; telling the person can no longer alert anyone.",
                },
                {
                    "audience": "subject",
                    "why": "The child's mother holds parental responsibility and is not a "
                    "party to the safeguarding concern.",
                    "not_implicated": True,
                },
            ]
        },
    )

    audience: NoticeAudience = Field(description="`subject`, `subject_adults` or `subject_proxy`: the notice released")
    why: ReleaseText = Field(description="Why the notice may now be sent")
    not_implicated: bool = Field(
        False,
        description="Required true for a notice to a person with parental responsibility or to an attorney or "
        "deputy: that they are not implicated",
    )
    personal_representative: PersonalRepresentative | None = Field(
        None, description="For a person who has died: who the personal representative is"
    )
    access_to_health_records_checked: bool = Field(
        False,
        description="For a person who has died, required true: the notice tells the representative nothing the Access "
        "to Health Records Act 1990 would withhold from them (ss.4(3) and 5)",
    )


class NoticeReleasePublic(BaseModel):
    """A recorded release, and what still withholds the notice."""

    id: str = Field(description="The release's id.")
    request_id: str = Field(description="The sharing request whose notice was released.")
    audience: NoticeAudience = Field(description="The notice released: `subject`, `subject_adults` or `subject_proxy`.")
    version: int = Field(
        description="The request's version it was given on: it holds for later decisions until the request is amended"
    )
    why: str = Field(description="Why the notice may now be sent, as the guardian wrote.")
    not_implicated: bool = Field(
        description="Whether the guardian confirmed that the parent, attorney or deputy it goes to is not implicated."
    )
    personal_representative: str | None = Field(
        description="For a person who has died: who the personal representative is; null otherwise."
    )
    access_to_health_records_checked: bool = Field(
        description=(
            "For a person who has died: whether the guardian confirmed the notice tells the "
            "representative nothing the Access to Health Records Act 1990 would withhold."
        )
    )
    released_by: str = Field(description="The guardian's subject")
    released_by_org: str = Field(description="The guardian's organisation.")
    released_at: datetime = Field(description="When it was released (UTC).")
    still_withheld: list[WithheldReason] = Field(
        description="Reasons a release never clears that still hold (`controller_checks_open`)"
    )

    @classmethod
    def of(cls, row: NoticeRelease, still_withheld: list[WithheldReason]) -> "NoticeReleasePublic":
        return cls(
            id=row.id,
            request_id=row.request_id,
            audience=row.audience,
            version=row.version,
            why=row.why,
            not_implicated=row.not_implicated,
            personal_representative=row.personal_representative,
            access_to_health_records_checked=row.access_to_health_records_checked,
            released_by=row.by_sub,
            released_by_org=row.by_org,
            released_at=row.at,
            still_withheld=still_withheld,
        )
