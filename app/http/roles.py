"""Role checks: the verified caller (a Principal), and the roles an endpoint needs, honoured for its organisation."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.errors import Forbidden, Unauthorized
from app.http.session import SessionDep
from app.models.vocabulary import Role
from app.powers import refusal
from app.principal import Principal
from app.services.agreements.organisations import caller_organisation
from app.wiring import wiring_of

_bearer = HTTPBearer(auto_error=False, bearerFormat="JWT", description="JWT with claims sub, org, roles, iss, aud, exp")


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Dependency: the verified caller, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required")
    wiring = wiring_of(request.app)
    verifier = wiring.verifier
    await verifier.refresh_keys(credentials.credentials)
    return verifier.verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: Role) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """Dependency factory: the caller must hold one of these roles, honoured for its organisation, else 403."""

    async def check(principal: CurrentPrincipal, session: SessionDep) -> Principal:
        if not principal.roles.intersection(roles):
            claimed = sorted(principal.refused.intersection(roles))
            if claimed:  # app/powers.py: not the controller's (or, for guardians, a guardian organisation's) token
                raise refusal(sub=principal.sub, org=principal.org, claimed=claimed)
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
        # A token outlives its organisation's registration:
        # every role of an unknown or deactivated organisation stops here.
        organisation = await caller_organisation(session=session, code=principal.org)
        if organisation is None:
            raise Forbidden(f"organisation {principal.org!r} is not registered")
        if not organisation.active:
            raise Forbidden(f"organisation {principal.org!r} is deactivated")
        return principal

    return check


AgencyPrincipal = Annotated[Principal, Depends(require_roles(Role.AGENCY))]
AdminPrincipal = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
ReaderPrincipal = Annotated[
    Principal, Depends(require_roles(Role.AGENCY, Role.GUARDIAN, Role.AUDITOR, Role.ADMIN, Role.IG_MANAGER))
]
OverseerPrincipal = Annotated[Principal, Depends(require_roles(Role.GUARDIAN, Role.AUDITOR, Role.ADMIN))]
GuardianPrincipal = Annotated[Principal, Depends(require_roles(Role.GUARDIAN))]
AuditorPrincipal = Annotated[Principal, Depends(require_roles(Role.AUDITOR))]
GuardianOrAuditor = Annotated[Principal, Depends(require_roles(Role.GUARDIAN, Role.AUDITOR))]
# The information-risk report: the controller's SIRO, who owns that risk, its DPO and its auditors (issue 29 item 6).
RiskReader = Annotated[Principal, Depends(require_roles(Role.SIRO, Role.DPO, Role.AUDITOR))]
# Who may see what a candidate policy would change: those who govern policy, not the agencies it decides for.
PolicyReviewer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.GUARDIAN, Role.AUDITOR))]
# Webhook endpoints: an agency manages its own, an admin the controller's.
WebhookOwner = Annotated[Principal, Depends(require_roles(Role.AGENCY, Role.ADMIN))]
# The information asset register: the controller's inside roles read it (not its safeguarding leads, whose work
# does not need it); IG managers and admins change any asset, an IAO only its own (app/services/information_assets).
AssetReader = Annotated[
    Principal,
    Depends(require_roles(Role.GUARDIAN, Role.AUDITOR, Role.ADMIN, Role.IG_MANAGER, Role.SIRO, Role.DPO, Role.IAO)),
]
AssetRegistrar = Annotated[Principal, Depends(require_roles(Role.IG_MANAGER, Role.ADMIN))]
AssetWriter = Annotated[Principal, Depends(require_roles(Role.IG_MANAGER, Role.ADMIN, Role.IAO))]
# A case's readers: those of ReaderPrincipal, and the controller's safeguarding leads, DPO, SIRO and IAOs, whom
# app/services/consultations/reading.py lets read the safeguarding requests (leads) and those they are consulted on.
CaseReader = Annotated[
    Principal,
    Depends(
        require_roles(
            Role.AGENCY,
            Role.GUARDIAN,
            Role.AUDITOR,
            Role.ADMIN,
            Role.IG_MANAGER,
            Role.SAFEGUARDING_LEAD,
            Role.DPO,
            Role.SIRO,
            Role.IAO,
        )
    ),
]
# Who reads the list of consultations (GET /v1/consultations): guardians and auditors every one, the consulted roles
# those asked of them.
ConsultationReader = Annotated[
    Principal,
    Depends(require_roles(Role.GUARDIAN, Role.AUDITOR, Role.SAFEGUARDING_LEAD, Role.DPO, Role.SIRO, Role.IAO)),
]
# Who may answer a consultation: the roles a guardian consults (the service checks it was asked of theirs).
ConsultedPrincipal = Annotated[Principal, Depends(require_roles(Role.SAFEGUARDING_LEAD, Role.DPO, Role.SIRO, Role.IAO))]
