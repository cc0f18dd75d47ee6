"""The rules policy 2028.1 adds (brief section 4b, "New rules") at their boundaries:
the nearest case that fires and the nearest that does not.

Every expected result, and the reason variant it is given with, is read from the brief.
"""

from typing import Any

import pytest

from app.models.vocabulary import FindingResult, OrganisationType, Outcome
from app.rules.engine import OPTIONAL_RULES, RULEBOOKS, Edition, RuleId

from .baseline import POLICY_2027, changed, finding, fired, item
from .baseline_2028 import (
    CONDITION,
    COURT_VERIFIED,
    DEAD,
    EMERGENCY,
    EXPLICIT,
    GATEWAY,
    IMPLAUSIBLE,
    LEGAL,
    OPI,
    PASS,
    POLICY_2028,
    REFER,
    REFUSE,
    THIRD_PARTY_CONSENT,
    check28,
    duty,
    run28,
)

ORGANISATION_TYPES = [kind.value for kind in OrganisationType]
PURPOSES = [
    "direct_care",
    "safeguarding_child",
    "safeguarding_adult",
    "crime_prevention",
    "court_order",
    "research",
    "service_planning",
    "public_health",
    "regulatory",
    "other",
]


def test_baseline_passes_every_2028_rule_in_policy_order() -> None:
    evaluation = run28(changed({}))

    assert fired(evaluation) == {}
    assert evaluation.outcome == Outcome.APPROVE
    assert [found.rule for found in evaluation.findings] == list(POLICY_2028.rules)
    assert set(POLICY_2028.rules) == set(RULEBOOKS[Edition.V2028_1]) - set(OPTIONAL_RULES)


def test_2028_adds_the_new_rules_and_2027_lacks_them() -> None:
    new = {
        RuleId.CP1_PURPOSE_REQUESTER_FIT,
        RuleId.CP6_NOT_CONFIDENTIAL_SCOPE,
        RuleId.CP6_SINGLE_SUBJECT_ANONYMISED,
        RuleId.CP6_ARTICLE10_CONDITION,
        RuleId.CP6_GATEWAY_KIND,
        RuleId.CP6_S251_VERIFIED,
        RuleId.CONSENT_PROXY_SCOPE,
        RuleId.CONSENT_THIRD_PARTY_CONSENT,
    }

    assert set(POLICY_2028.rules) == set(POLICY_2027.rules) | new


# CP1.purpose_requester_fit: every cell of IMPLAUSIBLE, and every purpose for every other type.


@pytest.mark.parametrize("purpose", PURPOSES)
@pytest.mark.parametrize("requester", ORGANISATION_TYPES)
def test_cp1_purpose_requester_fit(requester: str, purpose: str) -> None:
    expected = REFER if purpose in IMPLAUSIBLE.get(requester, set()) else PASS
    check28(RuleId.CP1_PURPOSE_REQUESTER_FIT, expected, changed({"purpose.category": purpose}), requester=requester)


def test_cp1_purpose_requester_fit_asks_a_guardian_what_the_purpose_really_is() -> None:
    reason = finding(
        run28(changed({"purpose.category": "research"}), requester="police"), RuleId.CP1_PURPOSE_REQUESTER_FIT
    ).reason

    assert "a Caldicott Guardian must decide what the purpose really is" in reason


# CP6.not_confidential_scope

NOT_CONFIDENTIAL = {"legal_basis.confidentiality": "not_confidential"}


@pytest.mark.parametrize(
    ("confidentiality", "items", "expected", "variant"),
    [
        ("not_confidential", [item("demographics")], REFUSE, None),
        ("not_confidential", [item("contact_details"), item("diagnoses", "anonymised")], REFUSE, None),
        ("not_confidential", [item("diagnoses", "pseudonymised"), item("demographics")], REFUSE, None),
        ("not_confidential", [item("diagnoses", "pseudonymised")], REFER, "pseudonymised"),
        (
            "not_confidential",
            [item("diagnoses", "pseudonymised"), item("demographics", "anonymised")],
            REFER,
            "pseudonymised",
        ),
        ("not_confidential", [item("diagnoses", "anonymised"), item("demographics", "anonymised")], PASS, None),
        ("implied_consent", [item("demographics")], PASS, None),
        ("explicit_consent", [item("diagnoses", "pseudonymised")], PASS, None),
        ("overriding_public_interest", [item("demographics")], PASS, None),
    ],
)
def test_cp6_not_confidential_scope(
    confidentiality: str, items: list[dict[str, str]], expected: FindingResult, variant: str | None
) -> None:
    request = changed(
        {
            "legal_basis.confidentiality": confidentiality,
            "data_items": items,
            "subjects.count": 20,
            "consent.status": "given",
        }
    )
    check28(RuleId.CP6_NOT_CONFIDENTIAL_SCOPE, expected, request, variant)


# CP6.single_subject_anonymised


@pytest.mark.parametrize(
    ("count", "identifiers", "items", "expected", "variant"),
    [
        (1, [], [item("diagnoses", "anonymised")], REFUSE, None),
        (1, [], [item("demographics"), item("diagnoses", "anonymised")], REFUSE, None),
        (1, ["9990000018"], [item("diagnoses", "anonymised")], REFUSE, None),
        (5, ["9990000018"], [item("diagnoses", "anonymised")], REFUSE, None),
        (50, ["9990000018"], [item("diagnoses", "anonymised")], REFUSE, None),
        (2, [], [item("diagnoses", "anonymised")], REFER, "small_numbers"),
        (9, [], [item("diagnoses", "anonymised"), item("demographics", "pseudonymised")], REFER, "small_numbers"),
        (10, [], [item("diagnoses", "anonymised")], PASS, None),
        (11, [], [item("diagnoses", "anonymised")], PASS, None),
        (5000, [], [item("diagnoses", "anonymised")], PASS, None),
        # No anonymised item: the rule has nothing to say.
        (1, [], [item("diagnoses", "pseudonymised")], PASS, None),
        (1, ["9990000018"], [item("diagnoses")], PASS, None),
        (3, [], [item("diagnoses")], PASS, None),
    ],
)
def test_cp6_single_subject_anonymised(
    count: int, identifiers: list[str], items: list[dict[str, str]], expected: FindingResult, variant: str | None
) -> None:
    request = changed({"subjects.count": count, "subjects.identifiers": identifiers, "data_items": items})
    check28(RuleId.CP6_SINGLE_SUBJECT_ANONYMISED, expected, request, variant)


def test_cp6_single_subject_anonymised_names_the_threshold() -> None:
    reason = finding(
        run28(changed({"subjects.count": 4, "data_items": [item("diagnoses", "anonymised")]})),
        RuleId.CP6_SINGLE_SUBJECT_ANONYMISED,
    ).reason

    assert "fewer than 10 people" in reason
    assert POLICY_2028.thresholds.anonymised_min_subjects == 10


# CP6.article10_condition

OFFENCE = {"data_items": [item("demographics"), item("criminal_offence")], "purpose.category": "safeguarding_child"}
S47 = duty("children_act_1989_s47", "safeguarding_child", data_items=OFFENCE["data_items"])


@pytest.mark.parametrize(
    ("changes", "requester", "expected", "variant"),
    [
        (OFFENCE, "local_authority", REFUSE, None),
        (OFFENCE | {"data_items": [item("criminal_offence", "pseudonymised")]}, "local_authority", REFUSE, None),
        (OFFENCE | {"purpose.category": "crime_prevention"}, "police", REFUSE, None),
        # Any paragraph recorded, or none needed.
        (OFFENCE | {"legal_basis.schedule1_paragraph": 10}, "local_authority", PASS, None),
        (OFFENCE | {"legal_basis.schedule1_paragraph": 37}, "local_authority", PASS, None),
        (OFFENCE | {"legal_basis.schedule1_paragraph": 1}, "local_authority", PASS, None),
        (
            OFFENCE | {"data_items": [item("demographics"), item("criminal_offence", "anonymised")]},
            "local_authority",
            PASS,
            None,
        ),
        (OFFENCE | {"data_items": [item("demographics"), item("safeguarding_history")]}, "local_authority", PASS, None),
        (OFFENCE | DEAD, "local_authority", PASS, None),
        # A verified duty: paragraph 6 or 33 fits, so a condition; it takes precedence over an emergency.
        (S47, "local_authority", CONDITION, "statutory"),
        (S47 | EMERGENCY, "local_authority", CONDITION, "statutory"),
        (COURT_VERIFIED | {"data_items": [item("criminal_offence")]}, "nhs_trust", CONDITION, "statutory"),
        (S47 | {"legal_basis.schedule1_paragraph": 6}, "local_authority", PASS, None),
        (S47, "nhs_trust", REFUSE, None),
        (S47 | {"purpose.category": "safeguarding_adult"}, "local_authority", REFUSE, None),
        # An emergency for care or safeguarding is referred, not sent back.
        (OFFENCE | EMERGENCY, "local_authority", REFER, "emergency"),
        (OFFENCE | EMERGENCY | {"purpose.category": "safeguarding_adult"}, "local_authority", REFER, "emergency"),
        (OFFENCE | EMERGENCY | {"purpose.category": "direct_care"}, "nhs_trust", REFER, "emergency"),
        (S47 | EMERGENCY, "nhs_trust", REFER, "emergency"),
        (OFFENCE | EMERGENCY | {"purpose.category": "crime_prevention"}, "police", REFUSE, None),
        (OFFENCE | EMERGENCY | {"purpose.category": "regulatory"}, "regulator", REFUSE, None),
        (OFFENCE | {"urgency": "urgent"}, "local_authority", REFUSE, None),
    ],
)
def test_cp6_article10_condition(
    changes: dict[str, Any], requester: str, expected: FindingResult, variant: str | None
) -> None:
    check28(RuleId.CP6_ARTICLE10_CONDITION, expected, changed(changes), variant, requester=requester)


# CP6.gateway_kind


@pytest.mark.parametrize(
    ("provision", "requester", "purpose", "expected", "variant"),
    [
        # Exemptions and provisions that bind someone else permit no disclosure.
        *[
            (code, "police", "crime_prevention", CONDITION, "not_a_gateway")
            for code in ("dpa_2018_sch2_para2", "dpa_2018_sch2_para5")
        ],
        *[
            (code, "police", "crime_prevention", CONDITION, "not_a_gateway")
            for code in ("care_act_2014_s42", "pace_1984", "cpia_1996", "finance_act_2008_sch36")
        ],
        # The holder's own belief.
        ("terrorism_act_2000_s38b", "police", "crime_prevention", CONDITION, "on_belief"),
        ("fgm_act_2003_s5b", "police", "safeguarding_child", CONDITION, "on_belief"),
        # A duty, inside its limits or not, is to be cited as a legal requirement.
        ("children_act_1989_s47", "local_authority", "safeguarding_child", CONDITION, "duty"),
        ("children_act_1989_s47", "police", "crime_prevention", CONDITION, "duty"),
        ("court_order", "police", "court_order", CONDITION, "duty"),
        # A power reaches this requester and purpose, or not.
        ("crime_and_disorder_act_1998_s115", "police", "crime_prevention", PASS, None),
        ("crime_and_disorder_act_1998_s115", "local_authority", "safeguarding_child", PASS, None),
        ("crime_and_disorder_act_1998_s115", "nhs_trust", "safeguarding_adult", PASS, None),
        ("crime_and_disorder_act_1998_s115", "school", "crime_prevention", CONDITION, "outside_power"),
        ("crime_and_disorder_act_1998_s115", "charity", "safeguarding_adult", CONDITION, "outside_power"),
        ("crime_and_disorder_act_1998_s115", "police", "research", CONDITION, "outside_power"),
        ("crime_and_disorder_act_1998_s115", "nhs_trust", "direct_care", CONDITION, "outside_power"),
        # Powers the registry does not limit.
        ("children_act_2004_s11", "school", "safeguarding_child", PASS, None),
        ("care_act_2014_s6", "charity", "research", PASS, None),
        ("serious_crime_act_2007_s68", "other", "other", PASS, None),
        # Nothing the registry holds is cited.
        (None, "police", "crime_prevention", PASS, None),
        ("made_up_act_2031", "police", "crime_prevention", PASS, None),
    ],
)
def test_cp6_gateway_kind(
    provision: str | None, requester: str, purpose: str, expected: FindingResult, variant: str | None
) -> None:
    request = changed(GATEWAY | {"legal_basis.provision": provision, "purpose.category": purpose})
    check28(RuleId.CP6_GATEWAY_KIND, expected, request, variant, requester=requester)


@pytest.mark.parametrize(
    ("confidentiality", "provision"),
    [
        ("legal_requirement", "dpa_2018_sch2_para2"),
        ("legal_requirement", "crime_and_disorder_act_1998_s115"),
        ("overriding_public_interest", "pace_1984"),
        ("explicit_consent", "terrorism_act_2000_s38b"),
        ("overriding_public_interest", "children_act_1989_s47"),
    ],
)
def test_cp6_gateway_kind_reads_only_a_permissive_gateway(confidentiality: str, provision: str) -> None:
    request = changed(
        {
            "legal_basis.confidentiality": confidentiality,
            "legal_basis.provision": provision,
            "legal_basis.reference": "Ref 2028/1",
        }
    )
    check28(RuleId.CP6_GATEWAY_KIND, PASS, request, requester="school")


def test_cp6_gateway_kind_is_a_condition_the_public_interest_still_refers() -> None:
    address = {"data_items": [item("demographics"), item("contact_details")], "legal_basis.article_9": None}
    evaluation = run28(
        changed(
            GATEWAY | address | {"legal_basis.provision": "dpa_2018_sch2_para2", "purpose.category": "crime_prevention"}
        ),
        requester="police",
    )

    assert fired(evaluation) == {RuleId.CP6_GATEWAY_KIND: CONDITION, RuleId.CONSENT_PUBLIC_INTEREST: REFER}


# CP6.s251_verified

S251 = {
    "legal_basis.confidentiality": "s251_support",
    "legal_basis.reference": "21/CAG/0001",
    "purpose.category": "research",
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (S251 | {"data_items": [item("diagnoses")]}, CONDITION),
        (S251 | {"data_items": [item("diagnoses", "pseudonymised")]}, CONDITION),
        (S251 | {"data_items": [item("diagnoses", "anonymised"), item("demographics", "pseudonymised")]}, CONDITION),
        (
            S251
            | {
                "data_items": [item("diagnoses", "pseudonymised")],
                "legal_basis.s251_regulation": 3,
                "purpose.category": "public_health",
            },
            CONDITION,
        ),
        (S251 | {"data_items": [item("diagnoses", "anonymised")], "subjects.count": 50}, PASS),
        (EXPLICIT | {"purpose.category": "research", "data_items": [item("diagnoses")]}, PASS),
        (LEGAL | {"purpose.category": "research", "data_items": [item("diagnoses")]}, PASS),
    ],
)
def test_cp6_s251_verified(changes: dict[str, Any], expected: FindingResult) -> None:
    check28(RuleId.CP6_S251_VERIFIED, expected, changed(changes))


def test_cp6_s251_verified_is_the_controllers_check() -> None:
    reason = finding(run28(changed(S251)), RuleId.CP6_S251_VERIFIED).reason

    assert reason.startswith(
        "The controller's check: information governance confirms, before disclosing, that the support cited is in force"
    )


# CONSENT.proxy_scope

PROXY = {"consent.given_by": "attorney", "consent.capacity": "lacks_capacity", "consent.best_interests_decision": True}
RESEARCH = {"purpose.category": "research", "data_items": [item("diagnoses", "pseudonymised")], "subjects.count": 50}


def scope(value: str | None, status: str = "given", **changes: Any) -> dict[str, Any]:
    """An attorney's (or deputy's) decision for a person who lacks capacity, with the scope of their authority."""
    return (
        PROXY
        | {"consent.proxy_scope": value, "consent.status": status}
        | {key.replace("__", "."): v for key, v in changes.items()}
    )


@pytest.mark.parametrize(
    ("changes", "expected", "variant"),
    [
        # Scope not given: a guardian checks the power or the order, whatever the decision.
        (scope(None), REFER, "scope_unknown"),
        (scope(None, "refused"), REFER, "scope_unknown"),
        (scope(None, "withdrawn", consent__given_by="deputy"), REFER, "scope_unknown"),
        (scope(None, "not_sought"), PASS, None),
        (scope(None, "not_possible"), PASS, None),
        (scope(None, consent__capacity="not_assessed"), PASS, None),
        (scope(None, consent__capacity="has_capacity"), PASS, None),
        (scope(None, consent__given_by="parent", subjects__age_group="child"), PASS, None),
        (scope(None, consent__given_by="subject"), PASS, None),
        # Property and affairs: no authority to consent to disclosing health or care information.
        (scope("property_and_affairs") | EXPLICIT, REFUSE, "no_welfare_authority"),
        (
            scope("property_and_affairs", consent__given_by="deputy") | {"legal_basis.article_6": "consent"},
            REFUSE,
            "no_welfare_authority",
        ),
        (scope("property_and_affairs") | {"legal_basis.article_9": "explicit_consent"}, REFUSE, "no_welfare_authority"),
        (
            scope("property_and_affairs") | EXPLICIT | {"data_items": [item("diagnoses", "pseudonymised")]},
            REFUSE,
            "no_welfare_authority",
        ),
        (scope("property_and_affairs"), PASS, None),
        (
            scope("property_and_affairs")
            | EXPLICIT
            | {"data_items": [item("diagnoses", "anonymised")], "subjects.count": 50},
            PASS,
            None,
        ),
        (scope("property_and_affairs", "refused"), PASS, None),
        (scope("property_and_affairs", "refused") | {"legal_basis.article_6": "consent"}, PASS, None),
        # Health and welfare: consent counts, except for research or planning.
        (scope("health_and_welfare") | EXPLICIT | RESEARCH, REFER, "research"),
        (
            scope("health_and_welfare") | EXPLICIT | RESEARCH | {"purpose.category": "service_planning"},
            REFER,
            "research",
        ),
        (scope("health_and_welfare") | RESEARCH | {"legal_basis.article_6": "consent"}, REFER, "research"),
        (
            scope("health_and_welfare") | EXPLICIT | RESEARCH | {"data_items": [item("diagnoses", "anonymised")]},
            PASS,
            None,
        ),
        (scope("health_and_welfare") | RESEARCH | {"legal_basis.confidentiality": "s251_support"}, PASS, None),
        (scope("health_and_welfare", "refused") | RESEARCH | {"legal_basis.article_6": "consent"}, PASS, None),
        (scope("health_and_welfare") | EXPLICIT, PASS, None),
        (scope("health_and_welfare") | EXPLICIT | {"purpose.category": "public_health"}, PASS, None),
    ],
)
def test_consent_proxy_scope(changes: dict[str, Any], expected: FindingResult, variant: str | None) -> None:
    check28(RuleId.CONSENT_PROXY_SCOPE, expected, changed(changes), variant)


# CONSENT.third_party_consent


@pytest.mark.parametrize(
    ("requester", "changes", "expected"),
    [
        *[
            (kind, EXPLICIT | {"purpose.category": "safeguarding_adult"}, CONDITION)
            for kind in sorted(THIRD_PARTY_CONSENT)
        ],
        *[
            (kind, EXPLICIT | {"purpose.category": "safeguarding_adult"}, PASS)
            for kind in (
                "nhs_trust",
                "local_authority",
                "research",
                "regulator",
                "care_provider",
                "integrated_care_board",
                "court",
            )
        ],
        (
            "charity",
            {"consent.status": "given", "legal_basis.article_6": "consent", "purpose.category": "research"},
            CONDITION,
        ),
        (
            "police",
            {
                "consent.status": "given",
                "legal_basis.article_9": "explicit_consent",
                "purpose.category": "crime_prevention",
            },
            CONDITION,
        ),
        ("school", EXPLICIT | {"purpose.category": "other"}, CONDITION),
        # Direct care, no consent relied on, or none given.
        ("charity", EXPLICIT, PASS),
        (
            "charity",
            {"consent.status": "given", "purpose.category": "research", "legal_basis.confidentiality": "s251_support"},
            PASS,
        ),
        ("police", OPI | {"consent.status": "given", "purpose.category": "crime_prevention"}, PASS),
        (
            "police",
            {
                "legal_basis.article_6": "consent",
                "consent.status": "not_sought",
                "purpose.category": "crime_prevention",
            },
            PASS,
        ),
        ("school", EXPLICIT | {"consent.status": "refused", "purpose.category": "safeguarding_child"}, PASS),
    ],
)
def test_consent_third_party_consent(requester: str, changes: dict[str, Any], expected: FindingResult) -> None:
    check28(RuleId.CONSENT_THIRD_PARTY_CONSENT, expected, changed(changes), requester=requester)
