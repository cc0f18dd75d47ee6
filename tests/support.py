"""Test support shared by fixtures and tests: settings, tokens, where the scenario corpus lives."""

import os
import tempfile
from pathlib import Path

import pytest

from app.http.tokens import mint_dev_token
from app.models.vocabulary import Role
from app.platform.config import Settings

TEST_SECRET = "test-secret-for-hs256-only-in-tests-0123456789"
# The key that signs the tests' audit checkpoints: made on first use, as development makes it, outside the checkout.
TEST_AUDIT_KEY = Path(tempfile.mkdtemp(prefix="caldicott-test-keys-")) / "audit-signing-key.pem"
GUARDIAN_ORGS = ("LA01", "RXT01")
# Tests that start server or worker processes, or time what those do: pytest-xdist (scripts/test, --dist loadgroup)
# runs them one after another on one worker, so that at most one such test shares the machine with the other
# worker's in-process tests.
PROCESS_GROUP = pytest.mark.xdist_group("processes")
SHARED_SCENARIOS = Path(
    os.environ.get("CALDICOTT_SCENARIOS_DIR", Path(__file__).resolve().parents[2] / "shared" / "scenarios")
)


def settings_for(database_url: str, **overrides: object) -> Settings:
    """Development settings for tests, never read from the environment or a .env file."""
    values: dict[str, object] = {
        "database_url": database_url,
        "jwt_secret": TEST_SECRET,
        "subject_key": "test-subject-key",
        "audit_chain_delay_seconds": 0,  # every request's events chained before the test sees its answer
        "audit_signing_key_file": TEST_AUDIT_KEY,
        # Guardians of these sit in the controller's review besides its own (CALDICOTT_GUARDIAN_ORGS): RXT01 is also the
        # tests' usual requester, so that "a guardian never decides their own organisation's request" can be tested.
        "guardian_orgs": list(GUARDIAN_ORGS),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Tokens:
    """Mints bearer headers signed with the test secret."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def headers(self, org: str, *roles: Role, sub: str | None = None) -> dict[str, str]:
        token = mint_dev_token(self.settings, org=org, roles=list(roles), sub=sub or f"user-{org.lower()}")
        return {"Authorization": f"Bearer {token}"}

    def admin(self) -> dict[str, str]:
        return self.headers("CONTROLLER", Role.ADMIN, sub="admin-1")

    def agency(self, org: str) -> dict[str, str]:
        return self.headers(org, Role.AGENCY)
