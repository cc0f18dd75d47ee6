"""Where attachment content lives, behind one interface: chunk rows on PostgreSQL, files beside the database on SQLite.

Content arrives into a `Staging` (hashed and stored a piece at a time, never held whole), and
is then placed under its SHA-256 in the transaction that records it, or discarded. On
PostgreSQL each full chunk (CHUNK_BYTES) is written as it fills, by a COPY of its own that
commits at once, under a `staging:<uuid>` key; placing renames the key in the recording
transaction. The COPY sends the chunk in small slices, so neither we nor the driver ever hold
more than one chunk and a slice of it (a bound parameter would be copied twice more inside
asyncpg). On SQLite the pieces go to a temporary file beside the others, renamed to the hash
when placed; every placement or removal happens while the recording transaction holds SQLite's
write lock (BEGIN IMMEDIATE, app/platform/db.py), so two of them never interleave. Leftovers of uploads
interrupted by a crash are removed by `sweep` (`caldicott attachments purge`).
"""

import asyncio
import binascii
import hashlib
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import ProblemError
from app.models.attachment import AttachmentBlob, AttachmentChunk
from app.models.base import utcnow
from app.platform.config import Settings

CHUNK_BYTES = 256 * 1024  # one chunk row on PostgreSQL, one read of a file on SQLite, and the most we buffer
COPY_SLICE = 16 * 1024  # bytes of a chunk per COPY data message (sent as twice as many hex digits)
STAGING_PREFIX = "staging:"
CHUNKS = AttachmentChunk.__table__  # type: ignore[attr-defined]
CONTENT_NAME = re.compile(r"[0-9a-f]{64}")


class Gone(ProblemError):
    """The content was removed when its retention ended: downloading or verifying it answers 410."""

    status_code = 410
    title = "Gone"
    slug = "gone"


class Staging(ABC):
    """Content on its way in: hashed and stored as each piece arrives, then placed under its hash or discarded."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.size = 0
        self.placed = False

    async def write(self, piece: memoryview) -> None:
        """Hash and store the next piece of the content."""
        self._digest.update(piece)
        self.size += len(piece)
        await self._store(piece)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    @abstractmethod
    async def _store(self, piece: memoryview) -> None: ...

    @abstractmethod
    async def finish(self) -> None:
        """Everything has arrived: make it durable."""

    @abstractmethod
    async def place(self, session: AsyncSession) -> None:
        """Put the content under its hash, in the session's transaction
        (the attachment_blobs row for it is new there)."""

    @abstractmethod
    async def discard(self) -> None:
        """Remove whatever is still staged; harmless when nothing is."""

    async def abandon(self, session: AsyncSession) -> None:
        """After the recording transaction failed and was rolled back:
        leave nothing of this content that no attachment names."""
        await self.discard()


class Removal:
    """A content taken away in a transaction: `settle` says whether that transaction committed."""

    async def settle(self, *, committed: bool) -> None:
        """Finish the removal once the transaction has committed, or undo it if not."""


class Store(ABC):
    """One backend's content, by SHA-256."""

    @abstractmethod
    def stage(self) -> Staging:
        """An empty staging for one upload."""

    @abstractmethod
    async def remove(self, session: AsyncSession, sha256: str) -> Removal:
        """Take the content away in the session's transaction (its attachment_blobs row goes in the same one)."""

    @abstractmethod
    async def reader(self, sha256: str) -> AsyncIterator[bytes]:
        """The content in chunks of at most CHUNK_BYTES; found (or FileNotFoundError) before the first is asked for."""

    @abstractmethod
    async def sweep(self, session: AsyncSession, *, before: datetime, stored: set[str]) -> int:
        """Remove staged leftovers older than `before`, and content files not in `stored`; how many were removed."""


def open_store(settings: Settings, engine: AsyncEngine) -> Store:
    """The store for these settings: a folder on SQLite, the database on PostgreSQL."""
    folder = settings.attachment_folder
    return FolderStore(folder) if folder is not None else ChunkStore(engine)


# --- PostgreSQL: chunk rows -------------------------------------------------------------------------


class ChunkStaging(Staging):
    """Fills one chunk at a time and COPYs it to a row under the staging key as soon as it is full."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self.key = f"{STAGING_PREFIX}{uuid.uuid4()}"
        self._engine = engine
        self._buffer = bytearray(CHUNK_BYTES)
        self._filled = 0
        self._rows = 0

    async def _store(self, piece: memoryview) -> None:
        while piece:
            taken = min(len(piece), CHUNK_BYTES - self._filled)
            self._buffer[self._filled : self._filled + taken] = piece[:taken]
            self._filled, piece = self._filled + taken, piece[taken:]
            if self._filled == CHUNK_BYTES:
                await self._write_chunk()

    async def _write_chunk(self) -> None:
        content = memoryview(self._buffer)[: self._filled]
        created = utcnow().isoformat()

        async def row() -> AsyncIterator[bytes]:
            # COPY's text format: tab-separated columns, bytea as \x and hex
            # (the backslash doubled, as COPY unescapes it).
            yield f"{self.key}\t{self._rows}\t\\\\x".encode()
            for start in range(0, len(content), COPY_SLICE):
                yield binascii.hexlify(content[start : start + COPY_SLICE])
            yield f"\t{created}\n".encode()

        try:
            async with self._engine.connect() as connection:
                raw = await connection.get_raw_connection()
                # Outside a transaction asyncpg commits the COPY by itself: the connection is back in the pool at once.
                await raw.driver_connection.copy_to_table(
                    CHUNKS.name, source=row(), columns=["blob_key", "seq", "content", "created_at"], format="text"
                )  # type: ignore[union-attr]
        finally:
            content.release()
        self._rows += 1
        self._filled = 0

    async def finish(self) -> None:
        if self._filled:
            await self._write_chunk()
        self._buffer = bytearray()  # not held while the attachment is recorded

    async def place(self, session: AsyncSession) -> None:
        await session.exec(update(CHUNKS).where(CHUNKS.c.blob_key == self.key).values(blob_key=self.sha256))
        self.placed = True

    async def discard(self) -> None:
        if self._rows:
            async with self._engine.begin() as connection:
                await connection.execute(delete(CHUNKS).where(CHUNKS.c.blob_key == self.key))


class ChunkStore(Store):
    """PostgreSQL: content as ordered rows of attachment_chunks keyed by its hash."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def stage(self) -> Staging:
        return ChunkStaging(self.engine)

    async def remove(self, session: AsyncSession, sha256: str) -> Removal:
        await session.exec(delete(CHUNKS).where(CHUNKS.c.blob_key == sha256))
        return Removal()

    async def reader(self, sha256: str) -> AsyncIterator[bytes]:
        first = await self._chunk(sha256, 0)
        if first is None:
            raise FileNotFoundError(f"no chunks of content {sha256}")
        return self._chunks(sha256, first)

    async def _chunks(self, sha256: str, first: bytes) -> AsyncIterator[bytes]:
        yield first
        seq = 1
        while (chunk := await self._chunk(sha256, seq)) is not None:
            yield chunk
            seq += 1

    async def _chunk(self, sha256: str, seq: int) -> bytes | None:
        # A connection per chunk: none is held while the client takes its time reading.
        async with self.engine.connect() as connection:
            found = (
                await connection.execute(
                    select(CHUNKS.c.content).where(CHUNKS.c.blob_key == sha256, CHUNKS.c.seq == seq)
                )
            ).first()
        return None if found is None else bytes(found[0])

    async def sweep(self, session: AsyncSession, *, before: datetime, stored: set[str]) -> int:
        leftovers = (
            delete(CHUNKS)
            .where(CHUNKS.c.blob_key.startswith(STAGING_PREFIX), CHUNKS.c.created_at < before)
            .returning(CHUNKS.c.blob_key)
        )
        return len({key for (key,) in (await session.exec(leftovers)).all()})


# --- SQLite: files in a folder ----------------------------------------------------------------------


class FileStaging(Staging):
    """Writes each piece to a temporary file in the store's folder; placing renames it to the hash."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.path = folder / f".upload-{uuid.uuid4()}.part"
        self._file: IO[bytes] | None = None

    async def _store(self, piece: memoryview) -> None:
        if self._file is None:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._file = await asyncio.to_thread(_create_private, self.path)
        await asyncio.to_thread(self._file.write, piece)

    async def finish(self) -> None:
        if self._file is not None:
            self._file.flush()
            await asyncio.to_thread(os.fsync, self._file.fileno())
            self._file.close()

    async def place(self, session: AsyncSession) -> None:
        self.path.replace(self.folder / self.sha256)
        self.placed = True
        await asyncio.to_thread(_sync_folder, self.folder)

    async def discard(self) -> None:
        if self._file is not None:
            self._file.close()
        self.path.unlink(missing_ok=True)

    async def abandon(self, session: AsyncSession) -> None:
        if self.placed:
            # A rename is no part of the transaction: the file stays unless no attachment_blobs row names it. Read under
            # SQLite's write lock (taken as that read begins), so no upload of the same content can place it meanwhile.
            if await session.get(AttachmentBlob, self.sha256) is None:
                (self.folder / self.sha256).unlink(missing_ok=True)
            await session.rollback()
        await self.discard()


class FileRemoval(Removal):
    """A content file moved aside in the transaction: deleted once it commits, put back if it does not."""

    def __init__(self, path: Path, aside: Path) -> None:
        self.path, self.aside = path, aside

    async def settle(self, *, committed: bool) -> None:
        if committed:
            self.aside.unlink(missing_ok=True)
        elif self.aside.exists():
            self.aside.replace(self.path)


class FolderStore(Store):
    """SQLite: each content a file named by its hash, in a folder beside the database."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def stage(self) -> Staging:
        return FileStaging(self.folder)

    async def remove(self, session: AsyncSession, sha256: str) -> Removal:
        path, aside = self.folder / sha256, self.folder / f".purged-{sha256}-{uuid.uuid4()}"
        if path.exists():
            path.replace(aside)
        return FileRemoval(path, aside)

    async def reader(self, sha256: str) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread((self.folder / sha256).open, "rb")
        return _file_chunks(handle)

    async def sweep(self, session: AsyncSession, *, before: datetime, stored: set[str]) -> int:
        if not self.folder.is_dir():
            return 0
        removed = 0
        for path in self.folder.iterdir():
            leftover = path.name.startswith((".upload-", ".purged-")) or (
                CONTENT_NAME.fullmatch(path.name) is not None and path.name not in stored
            )
            if leftover and path.stat().st_mtime < before.timestamp():
                path.unlink(missing_ok=True)
                removed += 1
        return removed


async def _file_chunks(handle: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


def _create_private(path: Path) -> IO[bytes]:
    """A new file only its owner may read (the content is confidential); an existing one is an error."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _sync_folder(folder: Path) -> None:
    """Make a rename in the folder durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
