"""The app's wiring: the long-lived parts one app is made of, typed and in one place (`app.state.wiring`).

Routes reach them through the dependency aliases in app/http/dependencies.py; services are handed
the part they need as a plain argument and never read the app.
"""

from dataclasses import dataclass
from functools import cached_property

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.http.tokens import TokenVerifier
from app.platform import tracing
from app.platform.config import Settings
from app.platform.db import make_engine, make_sessionmaker
from app.platform.observability import Metrics
from app.rules.policy_documents import shipped_policies
from app.services.attachments.store import Store, open_store
from app.services.audit.chain import Chainer
from app.services.audit.signing import AuditKeys
from app.services.disclosures.opening import DUE_WORKING_DAYS
from app.services.operations.rate_limits import RateLimiter
from app.services.operations.readiness import Monitor
from app.services.policies.registry import PolicyRegistry


@dataclass(frozen=True)
class Wiring:
    settings: Settings
    policies: PolicyRegistry
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    chainer: Chainer  # chains each request's audit events after it commits
    verifier: TokenVerifier
    audit_keys: AuditKeys  # the keys of signed checkpoints: published always, the signer only where the worker runs
    rate_limiter: RateLimiter
    metrics: Metrics
    readiness: Monitor  # the schema's cached revision and the calendar warning's last time
    tracing: tracing.Tracing

    @classmethod
    def make(cls, settings: Settings, *, span_exporter: tracing.SpanExporter | None = None) -> "Wiring":
        """Every part from the settings; the shipped policies are checked here,
        and a missing or unsafe audit key file stops start-up."""
        engine = make_engine(settings.database_url)
        sessionmaker = make_sessionmaker(engine, info={DUE_WORKING_DAYS: settings.disclosure_due_working_days})
        return cls(
            settings=settings,
            policies=PolicyRegistry(shipped_policies(), cache_seconds=settings.policy_cache_seconds),
            engine=engine,
            sessionmaker=sessionmaker,
            chainer=Chainer(sessionmaker, delay=settings.audit_chain_delay_seconds),
            verifier=TokenVerifier(settings),
            audit_keys=settings.audit_keys(sign=settings.webhook_worker_in_serve),
            rate_limiter=RateLimiter(settings),
            metrics=Metrics(),
            readiness=Monitor(engine),
            tracing=tracing.setup(
                settings, exporter=span_exporter
            ),  # off, adding nothing, unless OTEL_EXPORTER_OTLP_ENDPOINT is set
        )

    @cached_property
    def attachment_store(self) -> Store:
        """Made at first use: an in-memory database (as `caldicott openapi` uses) has no folder beside it."""
        return open_store(self.settings, self.engine)


def wiring_of(app: FastAPI) -> Wiring:
    wiring: Wiring = app.state.wiring
    return wiring
