"""The policy engine: pure functions from a policy and the facts of a request to an evaluation."""

from app.rules.engine import Evaluation, Finding, evaluate
from app.rules.facts import AgreementFacts, Facts, RequesterFacts
from app.rules.policy import Policy
from app.rules.policy_documents import PolicyError, load_policy

# Importing the rule modules registers their rules in the engine's rulebooks.
from app.rules import confidentiality, consent, lawful_basis, purpose_and_minimum, sharing_and_consent  # noqa: E402, F401  isort: skip

__all__ = [
    "AgreementFacts",
    "Evaluation",
    "Facts",
    "Finding",
    "Policy",
    "PolicyError",
    "RequesterFacts",
    "evaluate",
    "load_policy",
]
