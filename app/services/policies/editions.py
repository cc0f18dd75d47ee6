"""While a replay-only edition is still active: the current edition's view of every new decision,
and the hold it may put on it.

An upgraded deployment keeps deciding under its active policy until an admin activates 2028.1 or a policy derived
from it (brief section 7). Each new submission and amendment decided by a replay-only policy is also evaluated
under the current edition with the same facts; where the active policy would approve and the current edition would
not, the decision is held for a guardian: outcome refer, the active policy's findings plus `EDITION.superseded`, and
the current edition's version, hash,
outcome and non-pass findings among the decision's facts, so that it replays exactly.
"""

from functools import cache
from typing import Any

from app.models.vocabulary import FindingResult, Outcome
from app.rules import Evaluation, Facts, Finding, Policy, evaluate, load_policy
from app.rules.engine import CURRENT_EDITION
from app.rules.policy_documents import BASELINE_NAME, shipped_path

SUPERSEDED_RULE = "EDITION.superseded"
SUPERSEDED_PRINCIPLE = 6
APPROVALS = frozenset({Outcome.APPROVE, Outcome.APPROVE_WITH_CONDITIONS})
# The key of the current edition's view in a held decision's facts record.
FACTS_KEY = "current_edition"
WARNING = (
    "New requests are being decided under {name} {version}, a replay-only edition that UK law has overtaken. Those "
    f"that {BASELINE_NAME} {CURRENT_EDITION} would not approve are held for a Caldicott Guardian. An admin should "
    f"activate {BASELINE_NAME} {CURRENT_EDITION} or a policy derived from it."
)


@cache
def current_policy() -> Policy:
    """The shipped baseline of the current edition (its file is pinned by hash, so it is read once)."""
    return load_policy(shipped_path(CURRENT_EDITION))


def adjudicate(policy: Policy, facts: Facts) -> tuple[Evaluation, dict[str, Any] | None]:
    """The policy's evaluation, held for a guardian when the policy is replay-only
    and the current edition would not approve.

    Returns the evaluation and, for a held one, the current edition's view to record among the decision's facts."""
    evaluation = evaluate(policy, facts)
    if not policy.replay_only or evaluation.outcome not in APPROVALS:
        return evaluation, None
    current = current_policy()
    second = evaluate(current, facts)
    if second.outcome in APPROVALS:
        return evaluation, None
    view = {
        "version": current.version,
        "hash": current.content_hash,
        "outcome": second.outcome.value,
        "findings": {
            finding.rule: finding.result.value for finding in second.findings if finding.result != FindingResult.PASS
        },
    }
    return held(evaluation, policy, view), view


def held(evaluation: Evaluation, policy: Policy, view: dict[str, Any]) -> Evaluation:
    """The active policy's evaluation held for a guardian: outcome refer, no retrospective review, one finding more."""
    fired = ", ".join(f"{rule}={result}" for rule, result in view["findings"].items())
    reason = (
        f"Decided under {policy.name} {policy.version}, a replay-only edition that UK law has overtaken; under "
        f"{view['version']} its outcome would be {view['outcome']} ({fired}). A Caldicott Guardian decides it."
    )
    finding = Finding(
        rule=SUPERSEDED_RULE,
        principle=SUPERSEDED_PRINCIPLE,
        principle_title=policy.principle_titles[SUPERSEDED_PRINCIPLE],
        result=FindingResult.REFER,
        reason=reason,
    )
    return Evaluation(
        outcome=Outcome.REFER,
        findings=[*evaluation.findings, finding],
        conditions=evaluation.conditions,
        review_required=False,
    )


def warning(policy: Policy) -> str | None:
    """What operators and guardians are told while a replay-only policy is active; None otherwise."""
    return WARNING.format(name=policy.name, version=policy.version) if policy.replay_only else None
