"""A database that turns the service away is a 503 problem to retry, never a 500
(bench/resilience.py restarts a real one under load)."""

import uuid

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from app.main import create_app
from tests.support import Tokens, settings_for


async def test_a_database_refusing_connections_answers_503_with_retry_after(
    database_url: str, database_kind: str, tokens: Tokens
) -> None:
    if database_kind != "postgres":
        pytest.skip("needs a PostgreSQL server to refuse a connection")
    # PostgreSQL refuses this role's connections with SQLSTATE 53300, as it refuses everyone's with 57P03
    # while it starts up or shuts down; neither reaches SQLAlchemy as an OperationalError.
    url = make_url(database_url)
    role = f"caldicott_refused_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
    )
    await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
    try:
        app = create_app(settings_for(url.set(username=role).render_as_string(hide_password=False)))
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as client:
                response = await client.get("/v1/organisations", headers=tokens.admin())
        finally:
            await app.state.wiring.engine.dispose()
    finally:
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert response.json()["type"] == "/problems/unavailable"
