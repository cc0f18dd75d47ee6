"""The legal floor under a derived policy (brief section 7),
and the limits and dry run every upload meets: pure, no database."""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import yaml

from app.models.vocabulary import Urgency
from app.rules import PolicyError
from app.rules.engine import Edition
from app.rules.policy import Policy, ResponseTime, ResponseUnit
from app.rules.policy_admission import admission_problems, evidence_model
from app.rules.policy_documents import _baseline, parse_policy, shipped_path, shipped_policies
from app.rules.policy_floor import floor_problems, no_longer

Document = dict[str, Any]
BASELINE = "uk-caldicott-baseline"
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def document(version: str = "2028.1") -> Document:
    """A policy derived from 2028.1: the shipped file (2028.1 or 2028.2) with a name, a version and its baseline."""
    content: Document = yaml.safe_load(shipped_path(version).read_bytes())
    content.update(name="northshire-trust", version="2028.1-nt.1", derived_from={"name": BASELINE, "version": "2028.1"})
    return content


def parse(content: Document) -> Policy:
    return parse_policy(
        json.dumps(content, default=str).encode(), source="test", shipped=False, media_type="application/json"
    )


def admitted(change: Callable[[Document], None], version: str = "2028.1") -> list[tuple[str, str]]:
    """The problems an upload of 2028.1 (or 2028.2) with `change` applied meets, parsing included."""
    content = document(version)
    change(content)
    try:
        return admission_problems(parse(content), now=NOW)
    except PolicyError as error:
        return error.problems


def index_of(code: str) -> int:
    return [entry["code"] for entry in document()["provisions"]].index(code)


def test_the_shipped_2028_2_is_on_the_floor_of_2028_1_and_every_shipped_policy_meets_the_limits() -> None:
    shipped = shipped_policies()
    evidence = shipped[BASELINE, "2028.2"]
    assert (
        floor_problems(evidence, baseline=_baseline(Edition.V2028_1), evidence_model=evidence_model(Edition.V2028_1))
        == []
    )
    for policy in shipped.values():
        assert admission_problems(policy, now=NOW) == [], policy.version


def test_2028_1_word_for_word_under_a_name_of_its_own_is_admitted() -> None:
    assert admitted(lambda content: None) == []
    assert admitted(lambda content: None, "2028.2") == []


def _set(path: str, value: Any) -> Callable[[Document], None]:
    def change(content: Document) -> None:
        *parents, leaf = path.split("/")
        node: Any = content
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(leaf) if isinstance(node, list) else leaf] = value

    return change


def _edit(path: str, edit: Callable[[Any], Any]) -> Callable[[Document], None]:
    def change(content: Document) -> None:
        *parents, leaf = path.split("/")
        node: Any = content
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        key: Any = int(leaf) if isinstance(node, list) else leaf
        node[key] = edit(node[key])

    return change


def _reason(rule: str, result: str, text: str, variant: str | None = None) -> Callable[[Document], None]:
    def change(content: Document) -> None:
        reasons = content["rules"][rule]["reasons"]
        if variant is None:
            reasons[result] = text
        else:
            reasons[result][variant] = text

    return change


def _remove(values: list[str], *gone: str) -> list[str]:
    return [value for value in values if value not in gone]


PACE, COURT_ORDER, CDA_S115 = (
    index_of("pace_1984"),
    index_of("court_order"),
    index_of("crime_and_disorder_act_1998_s115"),
)
S16H = index_of("children_act_2004_s16h")
PARENT_REFUSAL = "rules.CONSENT.refusal.reasons.refuse.parent_refusal"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (_set(f"provisions/{PACE}/kind", "duty"), f"provisions[{PACE}].kind"),
        (_edit("definitions/restricted", lambda values: _remove(values, "gender_history")), "definitions.restricted"),
        (_edit("definitions/special", lambda values: [*values, "demographics"]), "definitions.special"),
        (_edit("definitions/secondary", lambda values: [*values, "public_health"]), "definitions.secondary"),
        (_edit("requester_groups/non_care", lambda values: _remove(values, "police")), "requester_groups.non_care"),
        (_edit("requester_groups/non_care", lambda values: [*values, "nhs_trust"]), "requester_groups.non_care"),
        (
            _edit("requester_groups/third_party_consent", lambda values: _remove(values, "school")),
            "requester_groups.third_party_consent",
        ),
        (
            _edit("implausible_purposes/police", lambda values: _remove(values, "research")),
            "implausible_purposes.police",
        ),
        (
            _set(
                "article9_purpose_fit/research",
                {"pass": ["research", "explicit_consent", "public_health"], "refer": []},
            ),
            "article9_purpose_fit.research.pass",
        ),
        (_set("article9_purpose_fit/research/refer", []), "article9_purpose_fit.research.refer"),
        (
            _edit("emergency/waivable", lambda values: [*values, "CP4.onward_sharing"]),
            "emergency.waivable.CP4.onward_sharing",
        ),
        (
            _edit("emergency/purposes", lambda values: [*values, "crime_prevention"]),
            "emergency.purposes.crime_prevention",
        ),
        (
            _edit("emergency/waivable_variants/CONSENT.refusal", lambda values: [*values, "parent_refusal"]),
            "emergency.waivable_variants.CONSENT.refusal",
        ),
        (_set("panel", {"size": 2, "quorum": 2}), "panel.size"),
        (_set("panel", {"size": 1, "quorum": 1}), "panel.size"),
        (
            _set("panel", {"required_for_approval": {"CONSENT.refusal": ["refer"]}}),
            "panel.required_for_approval.STAT.restricted_category",
        ),
        (_set("thresholds/emergency_max_subjects", 100000), "thresholds.emergency_max_subjects"),
        (_set("thresholds/bulk_subjects", 101), "thresholds.bulk_subjects"),
        (_set("thresholds/anonymised_min_subjects", 5), "thresholds.anonymised_min_subjects"),
        (
            _edit("allowed_categories/crime_prevention", lambda values: [*values, "diagnoses"]),
            "allowed_categories.crime_prevention",
        ),
        (_set("response_times/urgent", {"amount": 2, "unit": "working_days"}), "response_times.urgent"),
        (_set("response_times/urgent", {"amount": 24, "unit": "hours"}), "response_times.urgent"),
        (_set("response_times/emergency", {"amount": 1, "unit": "working_days"}), "response_times.emergency"),
        (_set(f"provisions/{COURT_ORDER}/requesters", ["police"]), f"provisions[{COURT_ORDER}].requesters"),
        (_set(f"provisions/{S16H}/requirement_seen", False), f"provisions[{S16H}].requirement_seen"),
        (_set(f"provisions/{PACE}/applies_after_death", True), f"provisions[{PACE}].applies_after_death"),
        (_set(f"provisions/{CDA_S115}/requesters", []), f"provisions[{CDA_S115}].requesters"),
        (
            _edit(f"provisions/{CDA_S115}/requesters", lambda values: [*values, "school"]),
            f"provisions[{CDA_S115}].requesters",
        ),
        (_set(f"provisions/{PACE}/title", "Police and Criminal Evidence Act 1984"), f"provisions[{PACE}].title"),
        (_edit("provisions", lambda entries: entries[1:]), "provisions"),
        (
            _edit(
                "provisions",
                lambda entries: [*entries, {"code": "local_duty", "title": "A local duty", "kind": "duty"}],
            ),
            f"provisions[{len(document()['provisions'])}].kind",
        ),
        (_set("rules/CP6.reference_required/principle", 5), "rules.CP6.reference_required.principle"),
        (_set("principle_titles/6", "Comply with local policy."), "principle_titles"),
        (_set("area_titles/AGR", "Agreements"), "area_titles"),
        (_reason("CONSENT.refusal", "refuse", "Shared all the same.", "parent_refusal"), PARENT_REFUSAL),
        (
            _reason("CP3.bulk_identifiable", "refer", "More than {bulk_subjects:>99999} people."),
            "rules.CP3.bulk_identifiable.reasons.refer",
        ),
        (_reason("CP4.onward_sharing", "pass", "Fine.\x00"), "rules.CP4.onward_sharing.reasons.pass"),
        (_reason("CP4.onward_sharing", "pass", "x" * 2001), "rules.CP4.onward_sharing.reasons.pass"),
        (_set("claim_lease_minutes", 10**12), "claim_lease_minutes"),
        (_set("response_times/routine", {"amount": 10**9, "unit": "hours"}), "response_times.routine.amount"),
        (_set("bank_holidays", []), "bank_holidays"),
        (_set("bank_holidays", ["2025-01-01", "2025-12-25"]), "bank_holidays"),
        (_set("name", "a/b"), "name"),
        (_set("version", "v" * 65), "version"),
        (_set("name", "trust\x00"), "name"),
        (_set("derived_from", {"name": BASELINE, "version": "2028.2"}), "derived_from"),
    ],
)
def test_a_loosening_or_unusable_derived_policy_is_refused_naming_the_path(
    change: Callable[[Document], None], path: str
) -> None:
    found = admitted(change)

    assert path in [where for where, _ in found], found


@pytest.mark.parametrize(
    "change",
    [
        _set("thresholds/bulk_subjects", 50),
        _set("thresholds/anonymised_min_subjects", 20),
        _set("thresholds/emergency_max_subjects", 5),
        _edit("definitions/restricted", lambda values: [*values, "genetic"]),
        _reason("CP4.onward_sharing", "refer", None),  # replaced below by a text with local guidance
        _set("response_times/urgent", {"amount": 23, "unit": "hours"}),
        _set("response_times/routine", {"amount": 3, "unit": "working_days"}),
        _set("claim_lease_minutes", 30),
        _set(
            "bank_holidays",
            [
                "2026-01-01",
                "2026-01-02",
                "2026-04-03",
                "2026-05-04",
                "2026-05-25",
                "2026-08-03",
                "2026-11-30",
                "2026-12-25",
                "2026-12-28",
                "2027-12-31",
            ],
        ),
        _set(f"provisions/{S16H}/applies_after_death", False),
        _set(f"provisions/{index_of('road_traffic_act_1988_s172')}/requirement_seen", True),
        _set(f"provisions/{CDA_S115}/requesters", ["police"]),
        _set(f"provisions/{CDA_S115}/max_subjects", 5),
        _set(f"provisions/{PACE}/requesters", ["police"]),
        _edit(
            "provisions",
            lambda entries: [
                *entries,
                {"code": "local_power", "title": "A local power", "kind": "power", "requesters": ["local_authority"]},
            ],
        ),
        _set("article9_purpose_fit/research", {"pass": ["explicit_consent"], "refer": ["research", "public_health"]}),
        _edit("requester_groups/non_care", lambda values: [*values, "other"]),
        _edit("requester_groups/unpublished_toolkit_referred", lambda values: [*values, "nhs_trust"]),
        _edit("implausible_purposes", lambda groups: groups | {"gp_practice": ["crime_prevention"]}),
        _edit("emergency/waivable", lambda values: _remove(values, "CP8.transparency")),
        _set("emergency/purposes", ["direct_care"]),
        _set(
            "panel",
            {
                "size": 5,
                "quorum": 3,
                "required_for_approval": {
                    "STAT.restricted_category": ["refer"],
                    "CONSENT.refusal": ["refer"],
                    "CP3.bulk_identifiable": ["refer"],
                    "CP2.identifiable_secondary_use": ["refuse"],
                },
            },
        ),
        _edit("allowed_categories/research", lambda values: _remove(values, "genetic")),
    ],
)
def test_a_stricter_derived_policy_is_admitted(change: Callable[[Document], None]) -> None:
    def stricter(content: Document) -> None:
        change(content)
        reasons = content["rules"]["CP4.onward_sharing"]["reasons"]
        if reasons["refer"] is None:
            reasons["refer"] = (
                document()["rules"]["CP4.onward_sharing"]["reasons"]["refer"] + " Call the IG team on extension 4410."
            )

    assert admitted(stricter) == []


def test_an_evidence_section_follows_2028_2_and_asks_no_less() -> None:
    def no_form(content: Document) -> None:
        del content["evidence"]["police_request_form"]
        del content["rules"]["CP6.police_request_form"]

    def fewer_provisions(content: Document) -> None:
        content["evidence"]["police_request_form"]["provisions"] = ["dpa_2018_sch2_para2"]

    def rule_not_listed(content: Document) -> None:
        del content["rules"]["CP6.police_request_form"]

    def more_requesters(content: Document) -> None:
        content["evidence"]["police_request_form"]["requesters"] = ["police", "local_authority"]
        content["evidence"]["court_order_seen"] = []

    assert "evidence.police_request_form" in [path for path, _ in admitted(no_form, "2028.2")]
    assert "evidence.police_request_form.provisions" in [path for path, _ in admitted(fewer_provisions, "2028.2")]
    assert "rules.CP6.police_request_form" in [path for path, _ in admitted(rule_not_listed, "2028.2")]
    assert admitted(more_requesters, "2028.2") == []


def test_a_reason_keeps_every_result_and_variant_of_the_baseline() -> None:
    def dropped(content: Document) -> None:
        del content["rules"]["CONSENT.refusal"]["reasons"]["refuse"]["parent_refusal"]

    def added(content: Document) -> None:
        content["rules"]["CP4.onward_sharing"]["reasons"]["condition"] = "Only to named teams."

    assert "rules.CONSENT.refusal.reasons.refuse" in [path for path, _ in admitted(dropped)]
    assert "rules.CP4.onward_sharing.reasons.condition" in [path for path, _ in admitted(added)]


@pytest.mark.parametrize(
    ("mine", "floor", "shorter"),
    [
        ((1, "hours"), (1, "hours"), True),
        ((2, "hours"), (1, "hours"), False),
        ((23, "hours"), (1, "working_days"), True),
        (
            (24, "hours"),
            (1, "working_days"),
            False,
        ),  # 1 working day can be 23 hours on the clock: the night summer time begins
        ((119, "hours"), (5, "working_days"), True),
        ((1, "working_days"), (72, "hours"), False),  # Friday before a bank-holiday Monday: 1 working day is 4 days
    ],
)
def test_response_times_compare_as_durations(mine: tuple[int, str], floor: tuple[int, str], shorter: bool) -> None:
    as_time = lambda pair: ResponseTime(amount=pair[0], unit=ResponseUnit(pair[1]))  # noqa: E731
    assert no_longer(as_time(mine), as_time(floor)) is shorter


def test_a_working_day_from_a_sunday_night_when_summer_time_begins_is_23_hours() -> None:
    """Why 24 hours is not shorter than one working day: due_at keeps the wall-clock time."""
    from app.rules.response_times import due_at

    policy = shipped_policies()[BASELINE, "2028.1"]
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 00:30 GMT on Sunday 29 March 2026; clocks go forward at 01:00
    assert due_at(policy, Urgency.URGENT, start) - start == timedelta(hours=23)


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (b"? [a, b]\n: 1\nname: x\n", "application/yaml"),  # a list as a key
        (b"? {a: 1}\n: 1\n", "application/yaml"),  # a map as a key
        (b"definitions: {special: [[a], b]}\n", "application/yaml"),  # an unhashable item where a set is expected
        (b"[" * 100 + b"]" * 100, "application/json"),
        (b"a: " + b"[" * 100 + b"]" * 100 + b"\n", "application/yaml"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"a": ' * 50 + b"1" + b"}" * 50, "application/json"),
        (
            b"\n".join(
                [b"a: &a [x, x, x, x, x, x, x, x, x, x]"]
                + [
                    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
                    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
                    f"*{chr(97 + i)}, *{chr(97 + i)}]".encode()
                    for i in range(8)
                ]
            ),
            "application/yaml",
        ),
        (b"1: one\nname: x\n", "application/yaml"),  # a key that is not a field
        (b"2025-01-01: x\n", "application/yaml"),  # a date as a key
        (b"true: x\n", "application/yaml"),
        (b'{"name": "x", "version": "1", "rules": {"1": 1}}', "application/json"),
    ],
)
def test_a_hostile_document_is_a_policy_error_not_a_crash(content: bytes, media_type: str) -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy(content, source="test", shipped=False, media_type=media_type)

    assert refused.value.problems


def test_an_unhashable_set_item_names_its_path() -> None:
    content = document()
    content["definitions"]["restricted"] = [["gender_history"], "sexual_health"]
    with pytest.raises(PolicyError) as refused:
        parse(content)

    assert any(path.startswith("definitions.restricted") for path, _ in refused.value.problems), refused.value.problems


def test_the_scottish_calendar_ending_soon_is_refused_once_it_cannot_cover_a_response() -> None:
    content = document()
    content["bank_holidays"] = [date(2026, 12, 25).isoformat()]  # the calendar ends on 31 December 2026
    late = datetime(2026, 12, 29, 10, 0, tzinfo=UTC)  # routine: 5 working days runs into January 2027

    problems = admission_problems(parse(content), now=late)

    assert [path for path, _ in problems] == ["bank_holidays"], problems
