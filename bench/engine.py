"""The rule engine alone: evaluations per second and per-evaluation latency over a corpus of cases.

The corpus is the wider project's scenario corpus at ../shared/scenarios (or
CALDICOTT_SCENARIOS_DIR) when it exists, every case under the policy version it names,
else the project's own generated cases (the outcome mix of bench/common.py, under
2026.1). Each case's Facts are built once, outside the timing: what is timed is
`evaluate(policy, facts)`, the pure function the service calls.

    .venv/bin/python -m bench.engine [--rounds 300]
"""

import argparse
import json
import time
from datetime import date
from typing import Any

from app.models.request_body import SharingRequestBody
from app.models.vocabulary import AgreementStatus, DataCategory, DsptStatus, OrganisationType, PurposeCategory
from app.rules import AgreementFacts, Facts, Policy, RequesterFacts, evaluate
from app.rules.policy_documents import shipped_policies
from bench.common import percentile, request_bodies
from tests.support import SHARED_SCENARIOS

TODAY = date(2026, 11, 26)  # the corpus's dates are absolute and valid until 2028


Case = tuple[str, Policy, Facts, str]
POLICIES = shipped_policies()


def scenario_case(document: dict[str, Any]) -> Case:
    """(id, policy, facts, expected outcome) of one scenario file."""
    organisations = {organisation["code"]: organisation for organisation in document["setup"]["organisations"]}
    requester = organisations[document["requester"]]
    body = SharingRequestBody.model_validate(document["request"])
    agreement = None
    for entry in document["setup"]["agreements"]:
        if entry["code"] == body.sharing_agreement:
            agreement = AgreementFacts(
                code=entry["code"],
                parties=frozenset(entry["parties"]),
                purposes=frozenset(PurposeCategory(purpose) for purpose in entry["purposes"]),
                data_categories=frozenset(DataCategory(category) for category in entry["data_categories"]),
                valid_from=date.fromisoformat(entry["valid_from"]),
                valid_until=date.fromisoformat(entry["valid_until"]),
                status=AgreementStatus(entry["status"]),
            )
    facts = Facts(
        request=body,
        requester=RequesterFacts(code=requester["code"], type=OrganisationType(requester["type"]), dspt_status=DsptStatus(requester["dspt_status"])),
        agreement=agreement,
        today=TODAY,
    )
    policy = POLICIES[document["policy"]["name"], document["policy"]["version"]]
    return f"{policy.version}/{document['id']}", policy, facts, document["expect"]["outcome"]


def corpus() -> tuple[str, list[Case]]:
    """The cases to evaluate, and a sentence saying where they came from."""
    files = sorted(SHARED_SCENARIOS.glob("*/S*.json")) if SHARED_SCENARIOS.is_dir() else []
    if files:
        return f"scenario corpus at {SHARED_SCENARIOS} ({len(files)} cases)", [scenario_case(json.loads(path.read_text())) for path in files]
    requester = RequesterFacts(code="RXT01", type=OrganisationType.NHS_TRUST, dspt_status=DsptStatus.STANDARDS_MET)
    cases = [
        (
            f"G{index:02d}",
            POLICIES["uk-caldicott-baseline", "2026.1"],
            Facts(request=SharingRequestBody.model_validate(body), requester=requester, agreement=None, today=TODAY),
            outcome,
        )
        for index, (outcome, body) in enumerate(request_bodies(40))
    ]
    return f"the project's own generated cases (scenario corpus ABSENT at {SHARED_SCENARIOS}; {len(cases)} cases)", cases


def measure(*, rounds: int = 300) -> dict[str, Any]:
    """Evaluate every case `rounds` times, timing each call, and once more as a tight loop for throughput."""
    source, cases = corpus()
    wrong = [case_id for case_id, policy, facts, expected in cases if evaluate(policy, facts).outcome != expected]
    for _ in range(20):  # warm up
        for _case_id, policy, facts, _expected in cases:
            evaluate(policy, facts)
    timings = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for _case_id, policy, facts, _expected in cases:
            started = clock()
            evaluate(policy, facts)
            timings.append(clock() - started)
    timings.sort()
    started = time.perf_counter()
    for _ in range(rounds):
        for _case_id, policy, facts, _expected in cases:
            evaluate(policy, facts)
    elapsed = time.perf_counter() - started
    return {
        "corpus": source,
        "cases": len(cases),
        "outcomes_differing_from_expected": wrong,
        "evaluations": len(timings),
        "evaluations_per_second": len(cases) * rounds / elapsed,
        "median_us": percentile(timings, 0.50) / 1000,
        "p99_us": percentile(timings, 0.99) / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    result = measure(rounds=parser.parse_args().rounds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
