"""Powers belong to the controller: which organisations a token's guardian, auditor and admin roles are honoured for.

`admin` and `auditor` are honoured for the controller organisation alone (CALDICOTT_CONTROLLER_ORG); `guardian` for it
and the organisations CALDICOTT_GUARDIAN_ORGS names, whose guardians sit in its review. Any other organisation's token
carrying one of them keeps its other roles (an `agency` token that also claims `admin` works as the agency alone); an
endpoint that needs the refused role answers 403 (problem type `role-not-honoured`), and the refusal is logged.
app/http/tokens.py applies it once, where a verified token becomes a Principal:
no endpoint or service can honour a refused role.
"""

import logging
from dataclasses import dataclass

from app.errors import Forbidden
from app.models.vocabulary import Role
from app.platform.config import Settings

log = logging.getLogger("caldicott.auth")


class RoleNotHonoured(Forbidden):
    """A token of an organisation other than the controller claims one of the
    controller's own roles for the endpoint."""

    title = "Role not honoured for this organisation"
    slug = "role-not-honoured"


@dataclass(frozen=True, slots=True)
class Powers:
    """Which organisations may hold the inside roles: admin and auditor the controller alone;
    guardian it and those it names."""

    controller: str
    guardian_orgs: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: Settings) -> "Powers":
        return cls(controller=settings.controller_org, guardian_orgs=frozenset(settings.guardian_orgs))

    def honoured(self, org: str, role: Role) -> bool:
        if role is Role.AGENCY or org == self.controller:
            return True
        return role is Role.GUARDIAN and org in self.guardian_orgs

    def split(self, org: str, roles: frozenset[Role]) -> tuple[frozenset[Role], frozenset[Role]]:
        """The roles honoured for `org`, and those refused."""
        honoured = frozenset(role for role in roles if self.honoured(org, role))
        return honoured, roles - honoured


def refusal(*, sub: str, org: str, claimed: list[Role]) -> RoleNotHonoured:
    """The 403 for a token whose only roles fit for the endpoint are refused ones;
    logged, as a misconfigured provider or an attack."""
    log.warning(
        "refused role %s claimed by sub %s of organisation %s: it is not honoured for that organisation",
        ",".join(claimed),
        sub,
        org,
        extra={"org": org, "sub": sub, "refused_roles": [str(role) for role in claimed]},
    )
    holders = (
        "the controller organisation or a configured guardian organisation"
        if claimed == [Role.GUARDIAN]
        else "the controller organisation"
    )
    roles = f"role {claimed[0]} is" if len(claimed) == 1 else f"roles {', '.join(claimed)} are"
    return RoleNotHonoured(f"{roles} honoured only for {holders}, not for {org!r}")
