"""The per-request session: one transaction per HTTP request, committed at the end, rolled back on error,
its audit events chained after."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from app.platform.db import AUDIT_RECORDED
from app.wiring import wiring_of

# request.state: a session whose transaction the route's handler owns (app/http/idempotency.py: a POST with an
# Idempotency-Key, whose answer is recorded in the same transaction as its change).
OWNED_SESSION = "owned_session"


async def get_session(request: Request, background_tasks: BackgroundTasks) -> AsyncIterator[AsyncSession]:
    """One transaction per HTTP request: services flush, this commits;
    audit events it recorded are chained after the response."""
    owned: AsyncSession | None = getattr(request.state, OWNED_SESSION, None)
    if owned is not None:
        yield owned  # committed, or rolled back, and chained by its owner
        return
    wiring = wiring_of(request.app)
    async with wiring.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        if session.sync_session.info.pop(AUDIT_RECORDED, False):
            # Runs once the response is sent, so no client waits for the chain
            # (under httpx's ASGITransport, before it returns).
            background_tasks.add_task(wiring.chainer.settle)


# scope="function": commit before the response is sent, so a failed commit is never a 201.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
