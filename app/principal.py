"""Who is calling: a person or system of an organisation,
with the roles honoured for it. Which roles count: app/powers.py."""

from dataclasses import dataclass

from app.models.vocabulary import Role

# The controller's own powers: its guardians review, its auditors read the whole trail, its admins set policy and
# register organisations, its information governance managers record its checks before anything is disclosed; its
# SIRO, DPO, information asset owners and safeguarding leads are the guardian's key relationships (the UKCGC manual),
# each reading what their work needs and nothing more: an endpoint grants them by name.
INSIDE_ROLES = frozenset(
    {
        Role.GUARDIAN,
        Role.AUDITOR,
        Role.ADMIN,
        Role.IG_MANAGER,
        Role.SIRO,
        Role.DPO,
        Role.IAO,
        Role.SAFEGUARDING_LEAD,
    }
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a person or system of an organisation, with the roles honoured for it
    (and those its token carried in vain)."""

    sub: str
    org: str
    roles: frozenset[Role]
    refused: frozenset[Role] = frozenset()  # inside roles the token carried that its organisation may not hold

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def inside(self) -> bool:
        """One of the controller's own people (INSIDE_ROLES), who may see every organisation's requests and every
        guardian by subject where an endpoint grants their role."""
        return bool(self.roles & INSIDE_ROLES)
