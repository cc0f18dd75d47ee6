"""The application factory: settings, database, policy, token verifier, routers, error handlers."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.auth import TokenVerifier
from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker
from app.errors import install_problem_handlers
from app.routers import agreements, health, organisations, sharing_requests
from app.rules import load_policy

log = logging.getLogger("caldicott")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the policy is loaded and validated here, so a bad policy stops start-up."""
    settings = settings or get_settings()
    policy = load_policy(settings.policy_file)
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info("policy %s %s (%s) loaded", policy.name, policy.version, policy.content_hash[:12])
        yield
        await engine.dispose()

    app = FastAPI(
        title="Caldicott sharing adjudication service",
        version="0.1.0",
        summary="Decides, records and explains requests to share confidential health and care information.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.policy = policy
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.verifier = TokenVerifier(settings)
    install_problem_handlers(app)
    for module in (health, organisations, agreements, sharing_requests):
        app.include_router(module.router)
    return app
