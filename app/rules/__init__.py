"""The policy engine: pure functions from a policy and the facts of a request to an evaluation."""

from app.rules.engine import Evaluation, Finding, evaluate
from app.rules.facts import AgreementFacts, Facts, RequesterFacts
from app.rules.policy import Policy, PolicyError, load_policy

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
