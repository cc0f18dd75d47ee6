"""Rate limits per organisation: a token bucket per verified `org` and class of route,
answering 429 with the IETF draft's fields.

The buckets are app/services/operations/rate_limits.py. The
fields follow the recent revisions of draft-ietf-httpapi-ratelimit-headers, the policy named
by a String: `RateLimit-Policy: "reads";q=5000;w=10` and `RateLimit: "reads";r=4999;t=1`.
"""

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import TooManyRequests
from app.http.roles import CurrentPrincipal
from app.http.session import SessionDep
from app.models.rate_limit import RouteClass
from app.platform import observability
from app.services.operations.rate_limits import Admission
from app.wiring import wiring_of

# Reports, the audit trail and policy replays read the most, whatever the method.
REPORT_PREFIXES = ("/v1/reports/", "/v1/audit/", "/v1/policy-replays/")
REPORT_SUFFIXES = ("/replay",)
READ_METHODS = frozenset({"GET", "HEAD"})
# A POST here sends a file (a request's evidence, an agreement's document): each may carry megabytes.
UPLOAD_SUFFIX = "/attachments"
STATE_KEY = "rate_limit"  # where the dependency leaves its admission for the middleware that adds the fields


def route_class_of(method: str, path: str) -> RouteClass:
    """The class of a route, from its method and path template (`/v1/sharing-requests/{request_id}`)."""
    if path.startswith(REPORT_PREFIXES) or path.endswith(REPORT_SUFFIXES):
        return RouteClass.REPORTS
    if method == "POST" and path.endswith(UPLOAD_SUFFIX):
        return RouteClass.UPLOADS
    return RouteClass.READS if method in READ_METHODS else RouteClass.WRITES


async def limit_rate(request: Request, principal: CurrentPrincipal, session: SessionDep) -> None:
    """Dependency of every API router: a token from the verified caller's organisation's bucket, or 429.

    It depends on the verified principal, so a forged token is refused (401) before it can spend
    anyone's tokens; FastAPI verifies the token once for this and the route's own role check.
    """
    wiring = wiring_of(request.app)
    limiter = wiring.rate_limiter
    if not limiter.enabled:
        return
    admission = await limiter.take(
        session=session,
        org=principal.org,
        route_class=route_class_of(request.method, request.scope["route"].path_format),
    )
    setattr(request.state, STATE_KEY, admission)
    if not admission.admitted:
        observability.rate_limited(route_class=admission.route_class)
        quota = admission.quota
        detail = (
            f"{principal.org} has used its {admission.route_class} quota ({quota.requests} per "
            f"{quota.window_seconds} s); retry in {admission.retry_after} s"
        )
        raise TooManyRequests(detail, headers={"Retry-After": str(admission.retry_after), **admission.fields()})


class RateLimitFields:
    """Pure ASGI middleware: the RateLimit fields of the request's take on its answer, whatever the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            admission = scope.get("state", {}).get(STATE_KEY) if message["type"] == "http.response.start" else None
            if isinstance(admission, Admission):
                headers = MutableHeaders(scope=message)
                for name, value in admission.fields().items():
                    if name not in headers:  # a 429 carries its own
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_fields)
