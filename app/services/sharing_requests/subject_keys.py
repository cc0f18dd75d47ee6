"""Rotating the subject key: which key versions the stored hashes use, the refusal to start without one of
them, and re-keying the lookup rows of disclosure searches (`caldicott subjects rekey`).

HMAC is one-way and the service never stores an identifier in clear, so a hash cannot be re-keyed from what is
stored: re-keying needs the identifiers themselves, from outside (an extract of the trust's patient index, say).
Each one is hashed under every older configured key; the lookup rows that match are moved to its hash under the
current key, and each request whose rows moved is audited. Rows whose identifier was not given stay under their
version and are still found while its key is configured. A request version's stored body keeps the hashes it was
written with: its hash is the one the decision cites, and replay and the audit trail depend on it.
"""

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from sqlalchemy import bindparam, func, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import SubjectKeys
from app.models.sharing_request import RequestSubject
from app.platform.config import Settings
from app.platform.db import make_engine, make_sessionmaker
from app.services.audit import chain as audit
from app.services.audit import events

log = logging.getLogger("caldicott.subject_keys")

BATCH = 1000  # identifiers re-keyed per transaction
MAX_BATCH = 10_000  # a batch's hashes are the parameters of one query (SQLite takes 32766, asyncpg 32767)
SUBJECTS = RequestSubject.__table__  # type: ignore[attr-defined]


class SubjectKeyMissing(ValueError):
    """Stored lookup rows use a key version that is not configured: searches would silently miss them."""


async def versions_in_use(session: AsyncSession) -> list[int]:
    """The key versions of the lookup rows, found by probing the key_version index once per version
    rather than reading every row."""
    found: list[int] = []
    while True:
        query = select(func.min(RequestSubject.key_version))
        if found:
            query = query.where(col(RequestSubject.key_version) > found[-1])
        version = (await session.exec(query)).one()
        if version is None:
            return found
        found.append(version)


async def rows_by_version(session: AsyncSession) -> dict[int, int]:
    """How many lookup rows each key version holds (reads them all: for commands, not for start-up)."""
    query = select(RequestSubject.key_version, func.count()).group_by(col(RequestSubject.key_version))
    return {version: count for version, count in (await session.exec(query)).all()}


async def refuse_missing_keys(session: AsyncSession, keys: SubjectKeys) -> None:
    """Raise SubjectKeyMissing when a stored lookup row uses a version whose key is not configured."""
    missing = [version for version in await versions_in_use(session) if version not in keys.versions]
    if missing:
        named = ", ".join(map(str, missing))
        raise SubjectKeyMissing(
            f"stored subject hashes use key version {named}, which is not configured: a disclosure search would "
            f"miss them. Put the key back in CALDICOTT_SUBJECT_KEY (version 1) or CALDICOTT_SUBJECT_KEYS, and retire "
            "it only once `caldicott subjects versions` shows no row uses it"
        )


async def check_at_start(sessionmaker: async_sessionmaker[AsyncSession], keys: SubjectKeys) -> None:
    """Start-up: refuse to serve while a stored hash's key is missing, saying why in one log line.

    A database not reachable yet (or not yet migrated) is a warning, as the rest of start-up treats it:
    the check runs again at the next start."""
    try:
        async with sessionmaker() as session:
            await refuse_missing_keys(session, keys)
    except SubjectKeyMissing as missing:
        log.error("%s", missing)
        raise
    except (OSError, SQLAlchemyError) as error:
        log.warning("could not check the subject key versions stored at start: %s", type(error).__name__)


@dataclass
class RekeyReport:
    """What a re-keying run did: identifiers read, rows moved from each older version, requests audited,
    and the rows each version holds afterwards."""

    current: int
    identifiers: int = 0
    moved: dict[int, int] = field(default_factory=dict)
    requests: int = 0
    remaining: dict[int, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        moved = ", ".join(f"{rows} from version {version}" for version, rows in sorted(self.moved.items())) or "none"
        lines = [
            f"read {self.identifiers} identifiers; re-keyed {sum(self.moved.values())} lookup rows to version "
            f"{self.current} ({moved}) in {self.requests} request audits"
        ]
        lines += [f"version {version}: {rows} rows" for version, rows in sorted(self.remaining.items())]
        return lines


def batches(identifiers: Iterable[str], size: int) -> Iterator[list[str]]:
    """The non-blank identifiers, `size` at a time."""
    given = (identifier for identifier in identifiers if identifier.strip())
    while batch := list(islice(given, size)):
        yield batch


async def rekey(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    keys: SubjectKeys,
    identifiers: Iterable[str],
    batch_size: int = BATCH,
) -> RekeyReport:
    """Move the lookup rows of these identifiers from every older configured version to the current one,
    one committed batch at a time (rows and audit events together), so an interrupted run loses nothing and
    a second run finds nothing left to move."""
    report = RekeyReport(current=keys.current)
    older = sorted(keys.versions - {keys.current})
    for batch in batches(identifiers, batch_size):
        report.identifiers += len(batch)
        if older:
            async with sessionmaker() as session:
                await _rekey_batch(session, keys, older, batch, report)
                await session.commit()
    await audit.chain_pending(sessionmaker)
    async with sessionmaker() as session:
        report.remaining = await rows_by_version(session)
    return report


async def _rekey_batch(
    session: AsyncSession, keys: SubjectKeys, older: list[int], batch: list[str], report: RekeyReport
) -> None:
    """Move the rows of one batch of identifiers and audit each request whose rows moved."""
    current_hash = {}  # (older version, its hash) -> the hash under the current key
    for identifier in batch:
        new = keys.hash(identifier)
        current_hash |= {(version, keys.hash(identifier, version=version)): new for version in older}
    # Locked (on PostgreSQL), so that of two runs at once the second finds what the first moved gone, and counts and
    # audits only its own moves; in key order, so that they cannot deadlock.
    query = (
        select(
            RequestSubject.request_id, RequestSubject.version, RequestSubject.subject_hash, RequestSubject.key_version
        )
        .order_by(col(RequestSubject.request_id), col(RequestSubject.version), col(RequestSubject.subject_hash))
        .with_for_update()
    )
    rows = []
    for version in older:  # one query per version: a batch's hashes stay within the drivers' parameter limits
        hashes = [hashed for (of, hashed) in current_hash if of == version]
        matching = (col(RequestSubject.key_version) == version) & col(RequestSubject.subject_hash).in_(hashes)
        rows += (await session.exec(query.where(matching))).all()
    if not rows:
        return
    move = (
        update(SUBJECTS)
        .where(
            SUBJECTS.c.request_id == bindparam("row_request"),
            SUBJECTS.c.version == bindparam("row_version"),
            SUBJECTS.c.subject_hash == bindparam("old_hash"),
        )
        .values(subject_hash=bindparam("new_hash"), key_version=keys.current)
    )
    await (await session.connection()).execute(
        move,
        [
            {
                "row_request": row.request_id,
                "row_version": row.version,
                "old_hash": row.subject_hash,
                "new_hash": current_hash[(row.key_version, row.subject_hash)],
            }
            for row in rows
        ],
    )
    moved: dict[str, int] = {}
    for row in rows:
        report.moved[row.key_version] = report.moved.get(row.key_version, 0) + 1
        moved[row.request_id] = moved.get(row.request_id, 0) + 1
    for request_id, count in sorted(moved.items()):
        await events.subject_hashes_rekeyed(session=session, request_id=request_id, rows=count, version=keys.current)
    report.requests += len(moved)


async def run_rekey(settings: Settings, *, identifiers: Iterable[str], batch_size: int = BATCH) -> RekeyReport:
    """`caldicott subjects rekey`: re-key with the service's settings, on an engine of its own."""
    engine = make_engine(settings.database_url)
    try:
        return await rekey(
            sessionmaker=make_sessionmaker(engine),
            keys=settings.subject_keyring,
            identifiers=identifiers,
            batch_size=batch_size,
        )
    finally:
        await engine.dispose()


async def run_versions(settings: Settings) -> list[str]:
    """`caldicott subjects versions`: the rows of each key version in use, and whether its key is configured."""
    engine = make_engine(settings.database_url)
    keys = settings.subject_keyring
    try:
        async with make_sessionmaker(engine)() as session:
            counts = await rows_by_version(session)
    finally:
        await engine.dispose()
    lines = []
    for version in sorted(keys.versions | set(counts)):
        state = "current" if version == keys.current else "configured" if version in keys.versions else "NOT configured"
        lines.append(f"version {version}: {counts.get(version, 0)} rows, {state}")
    return lines
