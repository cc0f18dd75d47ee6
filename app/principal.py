"""Who is calling: a person or system of an organisation,
with the roles honoured for it. Which roles count: app/powers.py."""

from dataclasses import dataclass

from app.models.vocabulary import Role

# The controller's own powers: its guardians review, its auditors read the whole trail, its admins set policy and
# register organisations, its information governance managers record its checks before anything is disclosed.
INSIDE_ROLES = frozenset({Role.GUARDIAN, Role.AUDITOR, Role.ADMIN, Role.IG_MANAGER})


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
        """A guardian, auditor or admin: the controller's own,
        who see every organisation's requests and every guardian by subject."""
        return bool(self.roles & INSIDE_ROLES)
