"""Migration 0023: a reconsideration's or retrospective review's decision, stored with its verdict as its outcome,
gets the outcome that stands and the verdict in a field of its own; and back again."""

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from alembic import command
from app.cli import alembic_config
from tests.conftest import on_database

BEFORE = "0021_activation_precondition"
AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def rows(table: sa.Table, values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with every column the table requires filled in (plain values), the given ones on top."""
    filler: dict[str, Any] = {}
    for column in table.columns:
        if column.nullable or column.server_default is not None or column.autoincrement is True:
            continue
        kind = column.type
        if isinstance(kind, sa.Boolean):
            filler[column.name] = False
        elif isinstance(kind, sa.Integer):
            filler[column.name] = 1
        elif isinstance(kind, sa.DateTime):
            filler[column.name] = AT
        elif isinstance(kind, sa.JSON):
            filler[column.name] = []
        else:
            filler[column.name] = "x"
    return [filler | value for value in values]


def seed(connection: sa.Connection) -> None:
    """A refusal upheld on reconsideration, one overturned, and an emergency share not upheld, as 0021 stored them."""
    tables = sa.MetaData()
    tables.reflect(connection, only=["organisations", "sharing_requests", "decisions", "reconsiderations"])
    organisations, requests, decisions, reconsiderations = (
        tables.tables[name] for name in ("organisations", "sharing_requests", "decisions", "reconsiderations")
    )
    connection.execute(sa.insert(organisations), rows(organisations, [{"code": "RXT01"}]))
    connection.execute(
        sa.insert(requests),
        rows(requests, [{"id": name, "requester_org": "RXT01", "row_version": 1} for name in ("r1", "r2", "r3")]),
    )
    decision = {"version": 1, "conditions": [], "findings": []}
    connection.execute(
        sa.insert(decisions),
        rows(
            decisions,
            [
                decision | {"id": "d1", "request_id": "r1", "kind": "guardian", "outcome": "refuse"},
                decision | {"id": "d2", "request_id": "r1", "kind": "reconsideration", "outcome": "upheld"},
                decision | {"id": "d3", "request_id": "r2", "kind": "guardian", "outcome": "refuse"},
                decision | {"id": "d4", "request_id": "r2", "kind": "reconsideration", "outcome": "approve"},
                decision
                | {
                    "id": "d5",
                    "request_id": "r3",
                    "kind": "rules",
                    "outcome": "approve_with_conditions",
                    "conditions": ["Review within 24 hours"],
                },
                decision | {"id": "d6", "request_id": "r3", "kind": "retrospective", "outcome": "not_upheld"},
            ],
        ),
    )
    connection.execute(
        sa.insert(reconsiderations),
        rows(
            reconsiderations,
            [
                {"id": "c1", "request_id": "r1", "decision_id": "d1", "new_decision_id": "d2", "outcome": "upheld"},
                {"id": "c2", "request_id": "r2", "decision_id": "d3", "new_decision_id": "d4", "outcome": "overturned"},
            ],
        ),
    )


def decisions(connection: sa.Connection) -> dict[str, tuple[Any, ...]]:
    """Each decision's outcome, verdict (once there is the column) and conditions, by id."""
    found = connection.execute(sa.text("SELECT * FROM decisions ORDER BY id")).mappings().all()
    return {
        row["id"]: (
            row["outcome"],
            row.get("verdict"),
            json.loads(row["conditions"]) if isinstance(row["conditions"], str) else row["conditions"],
        )
        for row in found
    }


def test_verdicts_leave_the_outcome_and_come_back(blank_database: str) -> None:
    config = alembic_config(blank_database)
    command.upgrade(config, BEFORE)
    on_database(blank_database, seed)
    command.upgrade(config, "0024_idempotency")
    after = on_database(blank_database, decisions)
    assert after == {
        "d1": ("refuse", None, []),
        "d2": ("refuse", "upheld", []),
        "d3": ("refuse", None, []),
        "d4": ("approve", "overturned", []),
        "d5": ("approve_with_conditions", None, ["Review within 24 hours"]),
        "d6": ("approve_with_conditions", "not_upheld", ["Review within 24 hours"]),
    }
    command.downgrade(config, BEFORE)
    before = on_database(blank_database, decisions)
    assert {name: outcome for name, (outcome, _, _) in before.items()} == {
        "d1": "refuse",
        "d2": "upheld",
        "d3": "refuse",
        "d4": "approve",
        "d5": "approve_with_conditions",
        "d6": "not_upheld",
    }
