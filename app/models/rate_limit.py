"""The classes of route an organisation's request rate is limited by,
and their token buckets when PostgreSQL holds them."""

from enum import StrEnum

import sqlmodel
from sqlalchemy import Column, Double
from sqlmodel import SQLModel

from app.models.base import enum_column


class RouteClass(StrEnum):
    """What a call costs: each organisation has one bucket per class, so a flood of one kind leaves the others alone."""

    WRITES = "writes"  # every POST, PATCH and DELETE outside reports and uploads, the dry-run evaluation included
    READS = "reads"  # every GET outside reports
    REPORTS = "reports"  # /v1/reports, /v1/audit and policy replays: the calls that read the most
    UPLOADS = "uploads"  # POST of an attachment (a request's evidence, an agreement's document): megabytes each


class RateLimitBucket(SQLModel, table=True):
    """One organisation's token bucket for one class of route, shared by every process serving on PostgreSQL."""

    __tablename__ = "rate_limits"

    org: str = sqlmodel.Field(primary_key=True, max_length=32)
    route_class: RouteClass = sqlmodel.Field(sa_column=enum_column(RouteClass, 16, primary_key=True))
    tokens: float = sqlmodel.Field(sa_column=Column(Double(), nullable=False))
    # Seconds since the epoch at which `tokens` was counted: each take first adds what has refilled since.
    refilled_at: float = sqlmodel.Field(sa_column=Column(Double(), nullable=False))
