"""Who is signed in to the console: the session behind the cookie, the roles it holds, and the form token every
form must carry.

A sign-in (through the trust's provider, app/console/oidc.py, or the development sign-in) becomes a row in
`console_sessions` and a random cookie: HttpOnly (no script reads it), Secure, SameSite=Lax (another site's form
does not carry it) and scoped to /console. The row holds the cookie's SHA-256, the roles honoured at sign-in
(app/powers.py, as for a token) and the form token. Idle for CALDICOTT_CONSOLE_IDLE_MINUTES, or older than
CALDICOTT_CONSOLE_SESSION_HOURS, the sign-in has ended. Only the controller's inside roles may use the console: a
partner agency's people work in their own systems, through the API.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from sqlalchemy import delete
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import FormData

from app.http.dependencies import SettingsDep
from app.http.session import SessionDep
from app.models.actions import SignInAction
from app.models.base import utcnow
from app.models.console import ConsoleSession
from app.models.vocabulary import Role
from app.principal import INSIDE_ROLES, Principal
from app.services.audit import events
from app.services.notifications import people

from .pages import CONSOLE_USER

COOKIE = "caldicott_console"
COOKIE_PATH = "/console"
# The idle clock is written at most this often, so that reading pages is not a write each time.
SEEN_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """A person signed in to the console."""

    principal: Principal
    name: str
    email: str
    csrf_token: str
    session_id: int
    method: str


class SignInRequired(Exception):
    """No sign-in, or it has ended: the person is sent to sign in, and back to `next` after."""

    def __init__(self, next_path: str):
        self.next_path = next_path


class ConsoleRefused(Exception):
    """A page the person may not see or a form the console did not give them: shown as a page, never JSON."""

    def __init__(self, title: str, detail: str, *, status_code: int = 403):
        self.title = title
        self.detail = detail
        self.status_code = status_code


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _ended(row: ConsoleSession, *, now: datetime, idle: timedelta) -> bool:
    return row.expires_at <= now or row.last_seen_at + idle <= now


async def start_session(
    db: AsyncSession,
    response: Response,
    *,
    principal: Principal,
    name: str,
    email: str,
    method: str,
    hours: int,
) -> ConsoleSession:
    """Sign a person in: a new session row (sign-ins that have ended are pruned on the way), its cookie, and an audit
    event."""
    now = utcnow()
    await db.exec(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))  # type: ignore[call-overload]
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=_hash(token),
        sub=principal.sub,
        org=principal.org,
        roles=" ".join(sorted(principal.roles)),
        name=name,
        email=email,
        method=method,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    db.add(row)
    await db.flush()
    await events.signed_in_or_out(session=db, actor=principal, action=SignInAction.SIGNED_IN, method=method)
    # Their address and roles as the sign-in gives them, for the emails that name them or their role
    # (app/services/notifications/).
    await people.seen(
        session=db, sub=principal.sub, org=principal.org, name=name, email=email or None, now=now, roles=principal.roles
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=hours * 3600,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="lax",
    )
    return row


async def end_session(db: AsyncSession, response: Response, user: "ConsoleUser") -> None:
    """Sign out: the row goes, so the cookie is worthless even if kept; audited."""
    await db.exec(delete(ConsoleSession).where(ConsoleSession.id == user.session_id))  # type: ignore[call-overload]
    await events.signed_in_or_out(session=db, actor=user.principal, action=SignInAction.SIGNED_OUT, method=user.method)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="lax")


def _here(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


async def current_user(request: Request, db: SessionDep, settings: SettingsDep) -> ConsoleUser:
    """The signed-in person, or a redirect to sign in; a partner agency's person is refused the console."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired(_here(request))
    row = (await db.exec(select(ConsoleSession).where(ConsoleSession.token_hash == _hash(token)))).first()
    now = utcnow()
    if row is None or _ended(row, now=now, idle=timedelta(minutes=settings.console_idle_minutes)):
        if row is not None:
            await db.delete(row)
        raise SignInRequired(_here(request))
    if now - row.last_seen_at >= SEEN_EVERY:
        row.last_seen_at = now
    roles = frozenset(Role(role) for role in row.roles.split())
    user = ConsoleUser(
        principal=Principal(sub=row.sub, org=row.org, roles=roles),
        name=row.name,
        email=row.email,
        csrf_token=row.csrf_token,
        session_id=row.id or 0,
        method=row.method,
    )
    setattr(request.state, CONSOLE_USER, user)
    if not roles & INSIDE_ROLES:
        raise ConsoleRefused(
            "The console is for the controller's own people",
            "You are signed in as a partner organisation's user. Partner organisations send and follow their "
            "requests from their own systems, through the API.",
        )
    return user


SignedInUser = Annotated[ConsoleUser, Depends(current_user)]


def require(*roles: Role):  # noqa: ANN201 (a dependency factory, like app/http/roles.py's)
    """A dependency: the signed-in person, who must hold one of `roles`."""
    needed = frozenset(roles)

    async def check(user: SignedInUser) -> ConsoleUser:
        if not user.principal.roles & needed:
            wanted = " or ".join(sorted(needed))
            raise ConsoleRefused("You cannot use this page", f"This page is for the {wanted} role.")
        return user

    return check


GuardianUser = Annotated[ConsoleUser, Depends(require(Role.GUARDIAN))]
AdminUser = Annotated[ConsoleUser, Depends(require(Role.ADMIN))]
AuditorUser = Annotated[ConsoleUser, Depends(require(Role.AUDITOR))]
OverseerUser = Annotated[ConsoleUser, Depends(require(Role.GUARDIAN, Role.AUDITOR, Role.ADMIN))]
# The case page's readers (app/console/case.py): the overseers, and the safeguarding leads, who read there what the
# API's CaseReader lets them (the safeguarding requests, and those a consultation asks of their role), read-only.
CaseReaderUser = Annotated[
    ConsoleUser, Depends(require(Role.GUARDIAN, Role.AUDITOR, Role.ADMIN, Role.SAFEGUARDING_LEAD))
]
# The people a guardian consults (app/console/consultations.py).
ConsultedUser = Annotated[ConsoleUser, Depends(require(Role.SAFEGUARDING_LEAD, Role.DPO, Role.SIRO, Role.IAO))]

FORM_EXPIRED = ConsoleRefused(
    "This form has expired",
    "The form was not one the console gave you in this sign-in. Go back, reload the page and try again.",
)


def check_form_token(sent: object, expected: str) -> None:
    """A form's `csrf_token` must be the one its page was given."""
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise FORM_EXPIRED


async def checked_form(request: Request, user: SignedInUser) -> FormData:
    """The posted form, once its token proves the console gave it to this person."""
    form = await request.form()
    check_form_token(form.get("csrf_token"), user.csrf_token)
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def local_next(value: object) -> str:
    """Where to go after signing in: a console path only, never another site (no open redirect)."""
    if (
        isinstance(value, str)
        and value.startswith("/console/")
        and not value.startswith("/console//")
        and "\\" not in value
        and all(ord(c) > 31 for c in value)
    ):
        return value
    return "/console/"


def sign_in_url(next_path: str) -> str:
    return f"/console/sign-in?next={quote(local_next(next_path), safe='/')}"
