"""Policy 2027.2: 2027.1 weighing the evidence attached to a request (issue 15),
shipped beside it as a derived policy."""

from dataclasses import replace
from hashlib import sha256
from typing import Any

import pytest
import yaml

from app.models.vocabulary import AttachmentKind, FindingResult, OrganisationType, Outcome
from app.rules import Policy, PolicyError, evaluate
from app.rules.engine import OPTIONAL_RULES, Edition, RuleId
from app.rules.policy_documents import parse_policy, shipped_path, shipped_policies
from app.services.policies.registry import PolicyRegistry

from .baseline import POLICY_2027, changed, facts, fired, item, result

BASELINE = "uk-caldicott-baseline"
POLICY_2027_2 = shipped_policies()[BASELINE, "2027.2"]
COURT = AttachmentKind.COURT_ORDER
FORM = AttachmentKind.POLICE_REQUEST_FORM
PASS, CONDITION = FindingResult.PASS, FindingResult.CONDITION


def court_order_request() -> dict[str, Any]:
    """A disclosure a court ordered: the order is a verified duty,
    so only CP6.court_order_verified has anything to say."""
    return changed(
        {
            "purpose.category": "court_order",
            "purpose.description": "Disclosure ordered by the family court in care proceedings",
            "legal_basis.article_6": "legal_obligation",
            "legal_basis.article_9": "legal_claims",
            "legal_basis.confidentiality": "legal_requirement",
            "legal_basis.provision": "court_order",
            "legal_basis.reference": "Order of HHJ Smith, case ZW26C00123",
        }
    )


def police_request(provision: str = "dpa_2018_sch2_para2") -> dict[str, Any]:
    """A police request for a suspect's address, relying on a crime exemption or gateway."""
    return changed(
        {
            "purpose.category": "crime_prevention",
            "purpose.description": "Locating a suspect in a serious assault investigation",
            "legal_basis.article_6": "public_task",
            "legal_basis.article_9": None,
            "legal_basis.confidentiality": "overriding_public_interest",
            "legal_basis.provision": provision,
            "legal_basis.reference": "DP request 2026/4471",
            "data_items": [item("demographics"), item("contact_details")],
        }
    )


def run(
    request: dict[str, Any],
    *,
    policy: Policy = POLICY_2027_2,
    evidence: frozenset[AttachmentKind] = frozenset(),
    **options: Any,
) -> Any:
    """Evaluate with these kinds of attachment on the request."""
    return evaluate(policy, replace(facts(request, **options), evidence=evidence))


def test_2027_2_is_shipped_derived_from_2027_1_with_a_pinned_hash_and_is_not_the_default() -> None:
    path = shipped_path("2027.2")

    assert POLICY_2027_2.content_hash == sha256(path.read_bytes()).hexdigest()
    assert POLICY_2027_2.derived_from is not None and POLICY_2027_2.derived_from.version == "2027.1"
    assert POLICY_2027_2.edition == Edition.V2027_1
    assert PolicyRegistry(shipped_policies()).default.version == "2028.1"


def test_2027_2_is_2027_1_plus_the_evidence_section_the_police_form_rule_and_two_texts() -> None:
    new = yaml.safe_load(shipped_path("2027.2").read_bytes())
    old = yaml.safe_load(shipped_path("2027.1").read_bytes())

    assert set(new) - set(old) == {"derived_from", "evidence"}
    assert {key for key in old if old[key] != new[key]} == {"version", "rules"}
    order = list(old["rules"])
    after = order.index("CP6.court_order_verified") + 1
    assert list(new["rules"]) == [*order[:after], "CP6.police_request_form", *order[after:]]
    assert {rule for rule in old["rules"] if old["rules"][rule] != new["rules"][rule]} == {"CP6.court_order_verified"}


def test_a_court_order_copy_turns_the_court_order_condition_into_a_pass() -> None:
    without = run(court_order_request())
    attached = run(court_order_request(), evidence=frozenset({COURT}))

    assert fired(without) == {"CP6.court_order_verified": CONDITION}
    assert without.outcome == Outcome.APPROVE_WITH_CONDITIONS
    assert fired(attached) == {}
    assert attached.outcome == Outcome.APPROVE


@pytest.mark.parametrize("kind", [kind for kind in AttachmentKind if kind != COURT])
def test_other_evidence_does_not_verify_a_court_order(kind: AttachmentKind) -> None:
    assert result(run(court_order_request(), evidence=frozenset({kind})), "CP6.court_order_verified") == CONDITION


def test_2027_1_weighs_no_evidence() -> None:
    evaluation = run(court_order_request(), policy=POLICY_2027, evidence=frozenset(AttachmentKind))

    assert result(evaluation, "CP6.court_order_verified") == CONDITION
    assert "CP6.police_request_form" not in {finding.rule for finding in evaluation.findings}


@pytest.mark.parametrize("provision", ["dpa_2018_sch2_para2", "crime_and_disorder_act_1998_s115"])
def test_a_police_request_on_a_crime_exemption_or_gateway_waits_for_the_signed_form(provision: str) -> None:
    without = run(police_request(provision), requester_type=OrganisationType.POLICE)
    attached = run(police_request(provision), requester_type=OrganisationType.POLICE, evidence=frozenset({FORM}))
    under_2027_1 = run(police_request(provision), policy=POLICY_2027, requester_type=OrganisationType.POLICE)

    assert result(without, "CP6.police_request_form") == CONDITION
    assert without.findings[
        [finding.rule for finding in without.findings].index("CP6.police_request_form")
    ].reason.startswith("Attach the police")
    assert result(attached, "CP6.police_request_form") == PASS
    # Everything else is decided as 2027.1 decides it.
    assert {rule: value for rule, value in fired(without).items() if rule != "CP6.police_request_form"} == fired(
        under_2027_1
    )
    assert fired(attached) == fired(under_2027_1)


@pytest.mark.parametrize(
    ("request_body", "requester"),
    [
        (police_request(), OrganisationType.LOCAL_AUTHORITY),  # not a police request
        (police_request("dpa_2018_sch2_para5"), OrganisationType.POLICE),  # another exemption
        (changed({"legal_basis.provision": None}, police_request()), OrganisationType.POLICE),
    ],
)
def test_the_police_form_is_asked_only_of_police_requests_on_those_provisions(
    request_body: dict[str, Any], requester: OrganisationType
) -> None:
    assert result(run(request_body, requester_type=requester), "CP6.police_request_form") == PASS


def test_only_the_police_form_rule_is_optional() -> None:
    assert set(OPTIONAL_RULES) == {RuleId.CP6_POLICE_REQUEST_FORM}
    assert RuleId.CP6_POLICE_REQUEST_FORM not in POLICY_2027.rule_ids
    assert RuleId.CP6_POLICE_REQUEST_FORM in POLICY_2027_2.rule_ids


def _derived(change: Any) -> bytes:
    """2027.2 as an upload, renamed, with `change` applied."""
    content = yaml.safe_load(shipped_path("2027.2").read_bytes()) | {"name": "org-evidence", "version": "1"}
    change(content)
    return yaml.safe_dump(content, sort_keys=False).encode()


def _refused(change: Any) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as refused:
        parse_policy(_derived(change), source="test", shipped=False)
    return refused.value.problems


def test_an_upload_may_tune_the_evidence_it_accepts() -> None:
    policy = parse_policy(
        _derived(lambda content: content["evidence"].update(court_order_seen=["court_order", "other"])),
        source="test",
        shipped=False,
    )

    assert (
        result(
            run(court_order_request(), policy=policy, evidence=frozenset({AttachmentKind.OTHER})),
            "CP6.court_order_verified",
        )
        == PASS
    )


def test_the_police_form_rule_needs_its_section() -> None:
    assert (
        "rules.CP6.police_request_form",
        "the rule reads evidence.police_request_form, which the policy does not have",
    ) in _refused(lambda content: content["evidence"].pop("police_request_form"))


def test_the_police_form_rule_names_registered_provisions_and_known_kinds() -> None:
    unknown = _refused(
        lambda content: content["evidence"]["police_request_form"].update(
            provisions=["dpa_2018_sch2_para2", "no_such_act"]
        )
    )
    kind = _refused(lambda content: content["evidence"]["police_request_form"].update(attachment="selfie"))

    assert ("evidence.police_request_form.provisions.no_such_act", "not in the provisions registry") in unknown
    assert [path for path, _ in kind] == ["evidence.police_request_form.attachment"]


def test_an_evidence_section_is_a_2027_edition_parameter() -> None:
    content = yaml.safe_load(shipped_path("2026.1").read_bytes()) | {
        "name": "org-2026",
        "version": "1",
        "derived_from": {"name": BASELINE, "version": "2026.1"},
    }
    content["evidence"] = {"court_order_seen": ["court_order"]}

    with pytest.raises(PolicyError) as refused:
        parse_policy(yaml.safe_dump(content).encode(), source="test", shipped=False)

    assert ("evidence", "edition 2026.1 has no rule that reads it") in refused.value.problems


def test_a_2027_1_policy_without_the_optional_rule_is_whole() -> None:
    without_form = parse_policy(
        _derived(
            lambda content: (
                content["rules"].pop("CP6.police_request_form"),
                content["evidence"].pop("police_request_form"),
            )
        ),
        source="test",
        shipped=False,
    )

    assert RuleId.CP6_POLICE_REQUEST_FORM not in without_form.rule_ids
    assert (
        result(run(court_order_request(), policy=without_form, evidence=frozenset({COURT})), "CP6.court_order_verified")
        == PASS
    )
