"""Whether the database schema is at the revision this code needs:
Alembic's `alembic_version` table against the migrations shipped beside the code.

Read once as `caldicott serve` starts (a log line naming `caldicott migrate`) and by GET /readyz, which
keeps the answer for a few seconds (`SchemaWatch`) so that a probe every second costs one query in ten.
"""

import functools
import time
from enum import StrEnum
from pathlib import Path

from alembic.script import ScriptDirectory
from pydantic import BaseModel, Field
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

# How long /readyz trusts the revision it read: a migration run meanwhile is seen within this time.
SCHEMA_CACHE_SECONDS = 10.0
MIGRATE = "caldicott migrate"


class SchemaStatus(StrEnum):
    """Where the database schema stands against this code's migrations.

    - `current`: at this code's newest revision.
    - `behind`: empty, or at an older revision: not ready until `caldicott migrate`.
    - `ahead`: at a revision this code does not know: a newer release migrated it (ready, reported).
    - `unknown`: the migrations folder is not beside the code: the revision cannot be judged (ready, reported).
    """

    CURRENT = "current"
    BEHIND = "behind"
    AHEAD = "ahead"
    UNKNOWN = "unknown"


class SchemaCheck(BaseModel):
    """The schema's revision, the one this code needs, and what to do."""

    status: SchemaStatus = Field(description="`current`, `behind` (run `caldicott migrate`), `ahead` or `unknown`.")
    revision: str | None = Field(description="The revision the database is at; null for a database never migrated")
    expected: str | None = Field(description="The newest revision of the migrations shipped with this code")
    detail: str = Field(description="What the status means and what to do, in words.")

    @property
    def ready(self) -> bool:
        """False only when the schema is known to be behind: requests would fail on missing tables or columns."""
        return self.status is not SchemaStatus.BEHIND


def migrations_folder() -> Path | None:
    """The alembic/ folder: beside the package (a checkout), else in the working directory
    (the container), else None."""
    candidates = [Path(__file__).resolve().parents[3] / "alembic", Path.cwd() / "alembic"]
    return next((path for path in candidates if (path / "env.py").is_file()), None)


@functools.lru_cache(maxsize=1)
def shipped_revisions() -> tuple[tuple[str, ...], frozenset[str]] | None:
    """The head revisions of the shipped migrations and every revision they know, read once; None without the folder."""
    folder = migrations_folder()
    if folder is None:
        return None
    script = ScriptDirectory(str(folder))
    return tuple(sorted(script.get_heads())), frozenset(revision.revision for revision in script.walk_revisions())


def judge(current: tuple[str, ...], shipped: tuple[tuple[str, ...], frozenset[str]] | None) -> SchemaCheck:
    """Compare the database's revisions with the shipped ones."""
    revision = ", ".join(sorted(current)) or None
    if shipped is None:
        detail = "the migrations folder (alembic/) is not beside the code, so the schema's revision cannot be judged"
        return SchemaCheck(status=SchemaStatus.UNKNOWN, revision=revision, expected=None, detail=detail)
    heads, known = shipped
    expected = ", ".join(heads)
    if set(current) == set(heads):
        return SchemaCheck(
            status=SchemaStatus.CURRENT,
            revision=revision,
            expected=expected,
            detail=f"the schema is at revision {expected}",
        )
    if any(name not in known for name in current):
        # A newer release migrated the database (a rolling upgrade): this process keeps serving what it knows.
        detail = (
            f"the schema is at revision {revision}, newer than this service's {expected}: "
            "a newer release has migrated it"
        )
        return SchemaCheck(status=SchemaStatus.AHEAD, revision=revision, expected=expected, detail=detail)
    at = f"revision {revision}" if revision else "no revision (never migrated)"
    detail = f"the database schema is at {at}; this service needs revision {expected}: run `{MIGRATE}`"
    return SchemaCheck(status=SchemaStatus.BEHIND, revision=revision, expected=expected, detail=detail)


async def check_schema(engine: AsyncEngine) -> SchemaCheck:
    """Read the database's revision (one small query) and judge it."""
    async with engine.connect() as connection:
        current = await connection.run_sync(_recorded_heads)
    return judge(current, shipped_revisions())


def _recorded_heads(connection: Connection) -> tuple[str, ...]:
    """The revisions in `alembic_version`, none on a database never migrated (read directly:
    Alembic's context logs two lines a call)."""
    if not inspect(connection).has_table("alembic_version"):
        return ()
    return tuple(row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version")))


class SchemaWatch:
    """The last judgement of an engine's schema, read again once it is `ttl` seconds old."""

    def __init__(self, engine: AsyncEngine, *, ttl: float = SCHEMA_CACHE_SECONDS):
        self.engine, self.ttl = engine, ttl
        self._last: tuple[SchemaCheck, float] | None = None

    async def check(self) -> SchemaCheck:
        """The cached judgement, or a fresh one when it has gone stale."""
        if self._last is None or time.monotonic() - self._last[1] >= self.ttl:
            self._last = (await check_schema(self.engine), time.monotonic())
        return self._last[0]
