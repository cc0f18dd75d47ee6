"""Migration 0013: agreements registered before it begin their history as version 1, as they stand,
made by whoever the trail names."""

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from alembic import command
from app.cli import alembic_config
from app.models.agreement import SharingAgreementPublic
from app.platform.db import make_engine, make_sessionmaker
from app.services.agreements import register as agreements
from tests.conftest import on_database

BEFORE = "0012_attachments"
REGISTERED, CHANGED = datetime(2026, 6, 1, 10, 0, tzinfo=UTC), datetime(2026, 7, 15, 9, 30, 12, 345678, tzinfo=UTC)


def seed(connection: sa.Connection) -> None:
    """Two agreements as a service at revision 0012 stored them;
    the trail names who registered and changed one of them."""
    table = sa.table(
        "sharing_agreements",
        *(
            sa.column(name)
            for name in ("code", "title", "status", "valid_from", "valid_until", "created_at", "updated_at")
        ),
        *(sa.column(name, sa.JSON) for name in ("parties", "purposes", "data_categories")),
    )
    common = {
        "purposes": ["direct_care"],
        "data_categories": ["demographics", "diagnoses"],
        "valid_from": date(2026, 4, 1),
        "valid_until": date(2029, 3, 31),
    }
    connection.execute(
        sa.insert(table),
        [
            common
            | {
                "code": "ISA-CHANGED",
                "title": "Changed",
                "parties": ["RXT01", "NSC01"],
                "status": "suspended",
                "created_at": REGISTERED,
                "updated_at": CHANGED,
            },
            common
            | {
                "code": "ISA-UNAUDITED",
                "title": "Unaudited",
                "parties": ["RXT01"],
                "status": "active",
                "created_at": REGISTERED,
                "updated_at": REGISTERED,
            },
        ],
    )
    audit = sa.table(
        "audit_events",
        *(
            sa.column(name)
            for name in (
                "seq",
                "actor_sub",
                "actor_org",
                "action",
                "target_type",
                "target_id",
                "outcome",
                "prev_hash",
                "hash",
            )
        ),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("actor_roles", sa.JSON),
    )
    made = {
        "actor_org": "CONTROLLER",
        "actor_roles": ["admin"],
        "target_type": "sharing_agreement",
        "target_id": "ISA-CHANGED",
        "outcome": "applied",
    }
    connection.execute(
        sa.insert(audit),
        [
            made
            | {
                "seq": 1,
                "occurred_at": REGISTERED,
                "actor_sub": "admin-1",
                "action": "agreement_registered",
                "prev_hash": "0" * 64,
                "hash": "1" * 64,
            },
            made
            | {
                "seq": 2,
                "occurred_at": CHANGED,
                "actor_sub": "admin-2",
                "action": "agreement_changed",
                "prev_hash": "1" * 64,
                "hash": "2" * 64,
            },
        ],
    )


def stored(url: str) -> dict[str, Any]:
    """Each agreement and its versions, read back through the service."""

    async def read() -> dict[str, Any]:
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session:
                found = {}
                for code in ("ISA-CHANGED", "ISA-UNAUDITED"):
                    agreement = SharingAgreementPublic.model_validate(
                        await agreements.get(session=session, code=code), from_attributes=True
                    )
                    page = await agreements.versions_page(session=session, code=code, cursor=None, limit=10)
                    found[code] = (agreement, page.items)
                return found
        finally:
            await engine.dispose()

    return asyncio.run(read())


def columns_and_tables(connection: sa.Connection) -> tuple[set[str], set[str]]:
    inspector = sa.inspect(connection)
    return {column["name"] for column in inspector.get_columns("sharing_agreements")}, set(inspector.get_table_names())


def test_agreements_registered_before_become_version_1_as_they_stand(blank_database: str) -> None:
    config = alembic_config(blank_database)
    command.upgrade(config, BEFORE)
    on_database(blank_database, seed)

    command.upgrade(config, "head")

    found = stored(blank_database)
    for code, changed_by, changed_at in (("ISA-CHANGED", "admin-2", CHANGED), ("ISA-UNAUDITED", "system", REGISTERED)):
        agreement, [version] = found[code]
        assert (version.code, version.version, version.changed_by, version.changed_at) == (
            code,
            1,
            changed_by,
            changed_at,
        )
        assert version.agreement == agreement  # every field, exactly as the agreement reads now
        assert (
            agreement.version,
            agreement.owner,
            agreement.review_date,
            agreement.dpia_reference,
            agreement.signed_attachment,
        ) == (1, None, None, None, None)
    assert found["ISA-CHANGED"][0].parties == ["RXT01", "NSC01"] and found["ISA-CHANGED"][0].status == "suspended"
    assert found["ISA-CHANGED"][0].updated_at == CHANGED

    command.downgrade(config, BEFORE)
    columns, tables = on_database(blank_database, columns_and_tables)
    assert not {"owner", "dpia_reference", "review_date", "signed_attachment", "version"} & columns
    assert not {"sharing_agreement_versions", "sharing_agreement_notices"} & tables
    command.upgrade(config, "head")  # and up again over the same rows
    assert [len(versions) for _, versions in stored(blank_database).values()] == [1, 1]
