"""The application factory: settings, database, policy, token verifier, routers, error handlers."""

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from importlib import metadata

from fastapi import Depends, FastAPI
from sqlalchemy.exc import SQLAlchemyError

from app.console import site as console
from app.errors import Conflict, ProblemError, install_problem_handlers
from app.http import api_docs, contract
from app.http.correlation import CorrelationMiddleware
from app.http.limits import BodyLimitMiddleware
from app.http.methods import HeadAsGet
from app.http.rate_limits import RateLimitFields, limit_rate
from app.http.request_shape import check_request_shape
from app.platform import observability, tracing
from app.platform.config import Settings, get_settings
from app.routers import (
    agreement_documents,
    agreement_reports,
    agreements,
    attachments,
    audit,
    controller_checks,
    deliberation,
    disclosures,
    events,
    fhir,
    incidents,
    information_assets,
    notices,
    operations,
    organisations,
    policies,
    problems,
    register,
    reports,
    review,
    sharing_requests,
    webhook_contract,
    webhooks,
)
from app.rules import PolicyError
from app.services.agreements import organisations as organisation_register
from app.services.attachments import evidence_upgrade
from app.services.sharing_requests import subject_keys
from app.services.webhooks import egress
from app.services.webhooks import worker as delivery
from app.wiring import Wiring, wiring_of

log = logging.getLogger("caldicott")


async def register_controller(application: FastAPI) -> None:
    """Register the controller's organisation if it is missing, and chain its audit event;
    a database not reachable yet is tried again at the next start."""
    wiring = wiring_of(application)
    code = wiring.settings.controller_org
    try:
        async with wiring.sessionmaker() as session:
            named = wiring.settings.controller_name
            if await organisation_register.ensure_controller(session=session, code=code, name=named):
                await session.commit()
                log.info("registered the controller organisation %s", code)
                await wiring.chainer.settle()
    except Conflict:
        # Another process of the same start (`serve --workers N`, a second replica) registered it between this one's
        # look and its insert: registered all the same, so this process starts too.
        log.info("the controller organisation %s was registered by another process starting at the same time", code)
    except (OSError, SQLAlchemyError) as error:
        log.warning("could not check the controller organisation %s at start: %s", code, error)


async def record_egress(application: FastAPI) -> None:
    """Audit a change of the webhook egress allowlist since the last start (app/services/webhooks/egress.py)."""
    wiring = wiring_of(application)
    try:
        if await egress.record_allowlist(sessionmaker=wiring.sessionmaker, settings=wiring.settings):
            log.info("the webhook egress allowlist changed since the last start: recorded and audited")
            await wiring.chainer.settle()
    except (OSError, SQLAlchemyError) as error:
        log.warning("could not record the webhook egress allowlist at start (tried again at the next): %s", error)


async def list_unverified_evidence(application: FastAPI) -> None:
    """The one-off listing of requests decided on unverified evidence (app/services/attachments/evidence_upgrade.py);
    its count goes in the start log."""
    try:
        queued = await evidence_upgrade.run_once(
            sessionmaker=wiring_of(application).sessionmaker, registry=wiring_of(application).policies
        )
    except (OSError, SQLAlchemyError, ProblemError) as error:  # ProblemError: the active policy's calendar has run out
        log.warning(
            "could not list decisions made on unverified evidence at start (tried again at the next start): %s", error
        )
        return
    log.info(
        "decisions made on unverified evidence: %d request(s) placed in the guardian queue for a retrospective review",
        queued,
    )


# The API's routers, each behind the rate limit. Routes are matched in order: the busiest first.
API_ROUTERS = (
    sharing_requests,
    attachments,
    fhir,
    review,
    controller_checks,
    disclosures,
    deliberation,
    notices,
    organisations,
    agreements,
    agreement_documents,
    information_assets,
    incidents,
    policies,
    audit,
    reports,
    agreement_reports,
    register,
    webhooks,
    events,
)


def create_app(settings: Settings | None = None, *, span_exporter: tracing.SpanExporter | None = None) -> FastAPI:
    """Build the app; the shipped policies are loaded and checked here, so a bad or altered one stops start-up."""
    settings = settings or get_settings()
    if settings.policy_file is not None:
        raise PolicyError(
            "CALDICOTT_POLICY_FILE is no longer read: upload the policy with POST /v1/policies and activate "
            "it (docs/guardians/policies.md)"
        )
    wiring = Wiring.make(settings, span_exporter=span_exporter)
    wiring.metrics.watch_pool(wiring.engine)  # caldicott_db_pool_connections_*{process="api"}

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        for policy in wiring.policies.shipped.values():
            log.info("policy %s %s (%s) shipped", policy.name, policy.version, policy.content_hash[:12])
        # A stored subject hash whose key is not configured would be missed by every disclosure search: refuse to serve.
        await subject_keys.check_at_start(wiring.sessionmaker, settings.subject_keyring)
        await register_controller(application)
        await record_egress(application)
        await list_unverified_evidence(application)
        await wiring.chainer.settle()  # a tail left pending by a process killed between its commit and its chaining
        async with AsyncExitStack() as background:
            background.enter_context(
                observability.counting(wiring.metrics)
            )  # the in-process webhook worker counts here too
            background.enter_context(
                tracing.serving(wiring.tracing)
            )  # its deliveries are traced too; the rest exported at the end
            if settings.webhook_worker_in_serve:
                await background.enter_async_context(
                    delivery.in_background(sessionmaker=wiring.sessionmaker, settings=settings, keys=wiring.audit_keys)
                )
            yield
        await wiring.engine.dispose()

    app = FastAPI(
        title="Caldicott sharing adjudication service",
        # The package's own version (pyproject.toml), so the contract and the package cannot disagree.
        version=metadata.version("caldicott"),
        summary="Decides, records and explains requests to share confidential health and care information.",
        description=contract.DESCRIPTION,
        openapi_tags=contract.TAGS,
        servers=contract.SERVERS,
        generate_unique_id_function=contract.operation_id,
        lifespan=lifespan,
        dependencies=[Depends(check_request_shape)],  # every route: only its own query parameters, JSON as JSON
        docs_url=None,  # FastAPI's /docs and /redoc load unpinned scripts from a CDN: ours is app/http/api_docs.py
        redoc_url=None,
    )
    contract.install(app)
    app.state.wiring = wiring
    install_problem_handlers(app)
    app.add_middleware(HeadAsGet)  # innermost: the access log and metrics still see HEAD
    app.add_middleware(RateLimitFields)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(observability.ObserveRequests, metrics=wiring.metrics)
    app.add_middleware(CorrelationMiddleware)  # outermost, so the access log line carries the correlation id
    tracing.install(app, wiring.engine, wiring.tracing)
    app.include_router(operations.router)  # probes and the scrape: no token, no rate limit
    app.include_router(problems.router)  # the pages problem types resolve to: no token, no rate limit
    app.include_router(audit.public_router)  # the keys that sign audit checkpoints: no token, no rate limit
    app.include_router(register.public_router)  # the public data uses register: no token, no rate limit
    api_docs.install(app, settings)  # /docs from the vendored Swagger UI, unless CALDICOTT_API_DOCS says not
    app.webhooks.include_router(webhook_contract.router)  # what subscribers are sent: documented only, never served
    for module in API_ROUTERS:
        app.include_router(module.router, dependencies=[Depends(limit_rate)])
    console.install(app)  # the console's pages for people, signed in by their own session (app/console/)
    return app
