"""What an uploaded policy must meet beyond its own validity:
limits, the legal floor, and a dry run, before it is stored.

A stored policy is read again with `parse_policy` alone, so one stored before these checks still parses and its
decisions replay; every new upload meets them all, and an unusable policy is a 422 at upload, never a 500 later.
"""

from datetime import datetime, timedelta
from functools import lru_cache

from app.models.base import LONDON
from app.models.request_body import SharingRequestBody
from app.models.vocabulary import DsptStatus, OrganisationType, Urgency
from app.rules.engine import CURRENT_EDITION, Edition, evaluate
from app.rules.facts import Facts, RequesterFacts
from app.rules.policy import Policy
from app.rules.policy_documents import SHIPPED_HASHES, _baseline, load_policy, shipped_path
from app.rules.policy_floor import floor_problems
from app.rules.policy_limits import bound_problems, name_problems, text_problems
from app.rules.response_times import CalendarExhausted, due_at

Problems = list[tuple[str, str]]

# The shipped derived policy whose `evidence` section a local policy of the edition may copy and tighten.
EVIDENCE_MODELS = {Edition.V2028_1: "2028.2"}

# Two small requests the dry run decides: a routine one every rule passes, and an emergency that asks for more.
SAMPLE_REQUEST = {
    "reference": "POLICY-DRY-RUN",
    "purpose": {"category": "direct_care", "description": "Referral to the community team for continuing treatment"},
    "urgency": "routine",
    "sharing_agreement": None,
    "subjects": {"count": 1, "age_group": "adult", "identifiers": [], "deceased": False},
    "data_items": [
        {"category": "demographics", "form": "identifiable", "justification": "to identify the person"},
        {"category": "diagnoses", "form": "identifiable", "justification": "to continue treatment"},
    ],
    "legal_basis": {
        "article_6": "public_task",
        "article_9": "health_social_care",
        "confidentiality": "implied_consent",
        "reference": None,
    },
    "consent": {
        "status": "not_sought",
        "capacity": "has_capacity",
        "given_by": "subject",
        "best_interests_decision": False,
    },
    "national_data_opt_out_applied": False,
    "recipient": {
        "retention_days": 730,
        "onward_sharing": False,
        "storage_region": "uk",
        "access_roles": ["community nurse"],
        "staff_trained": True,
    },
    "transparency": {"privacy_notice_covers_use": True, "subject_informed": "yes"},
}
EMERGENCY_CHANGES = {
    "urgency": "emergency",
    "consent": {
        "status": "not_possible",
        "capacity": "lacks_capacity",
        "given_by": "subject",
        "best_interests_decision": True,
    },
}


@lru_cache
def evidence_model(edition: Edition) -> Policy | None:
    """The shipped policy whose evidence section a derived policy of this edition may follow, if any."""
    version = EVIDENCE_MODELS.get(edition)
    if version is None or version not in SHIPPED_HASHES:
        return None
    return load_policy(shipped_path(version))


def admission_problems(policy: Policy, *, now: datetime) -> Problems:
    """Everything that keeps a parsed upload from being stored, by path; empty when it may be stored."""
    problems = name_problems(policy) + bound_problems(policy) + text_problems(policy)
    if policy.derived_from is not None and policy.edition == CURRENT_EDITION:
        problems += floor_problems(
            policy, baseline=_baseline(policy.edition), evidence_model=evidence_model(policy.edition)
        )
    if not problems:  # the dry run needs numbers within their limits and texts that format
        problems += dry_run_problems(policy, now=now)
    return list(dict.fromkeys(problems))


def dry_run_problems(policy: Policy, *, now: datetime) -> Problems:
    """Use the policy once as the service will: decide sample requests, take a claim lease,
    and work out every response due time from now."""
    problems: Problems = []
    requester = RequesterFacts(code="DRY-RUN", type=OrganisationType.NHS_TRUST, dspt_status=DsptStatus.STANDARDS_MET)
    try:
        for body in (SAMPLE_REQUEST, SAMPLE_REQUEST | EMERGENCY_CHANGES):
            facts = Facts(
                request=SharingRequestBody.model_validate(body),
                requester=requester,
                agreement=None,
                today=now.astimezone(LONDON).date(),
            )
            evaluate(policy, facts)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as error:
        problems.append(("body", f"the policy cannot decide a request: {type(error).__name__}: {error}"))
    try:
        now + timedelta(minutes=policy.claim_lease_minutes)
    except OverflowError:
        problems.append(("claim_lease_minutes", "a claim taken now would never lapse"))
    for urgency in Urgency:
        try:
            due_at(policy, urgency, now)
        except CalendarExhausted as error:
            problems.append(
                ("bank_holidays", f"a {urgency} request referred now would fall due past the calendar's end: {error}")
            )
        except (OverflowError, ValueError) as error:
            problems.append((f"response_times.{urgency}", f"no due time can be worked out: {error}"))
    return problems
