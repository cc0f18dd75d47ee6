"""Every stored subject hash names the version of the subject key that made it, so the key can be rotated

Revision ID: 0022_subject_key_versions
Revises: 0021_activation_precondition
Create Date: 2026-12-09

Until now one key (CALDICOTT_SUBJECT_KEY) made every hash, so every existing row is version 1, which the server
default says; a process of the previous release, writing during a rolling upgrade, writes version 1 too, which is
the key it holds. The lookup rows of disclosure searches (`sharing_request_subjects.key_version`) may later be
re-keyed to the current version (`caldicott subjects rekey`); a request version's body keeps the hashes it was
stored with, since its hash is the one the decision cites, so the version that made them is kept beside it
(`sharing_request_versions.subject_key_version`). The index on `key_version` lets the service find the versions in
use with a few index probes at start.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0022_subject_key_versions"
down_revision: str | None = "0021_activation_precondition"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the key version to the lookup rows (indexed) and to the request versions, 1 for every existing row."""
    with op.batch_alter_table("sharing_request_subjects") as batch_op:
        batch_op.add_column(sa.Column("key_version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.create_index(batch_op.f("ix_sharing_request_subjects_key_version"), ["key_version"], unique=False)
    with op.batch_alter_table("sharing_request_versions") as batch_op:
        batch_op.add_column(sa.Column("subject_key_version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    """Drop both columns and the index; refused while a lookup row holds a hash of a later key than version 1,
    which the previous release would search for with version 1's key and never find."""
    later = op.get_bind().execute(sa.text("SELECT 1 FROM sharing_request_subjects WHERE key_version <> 1 LIMIT 1"))
    if later.first() is not None:
        raise RuntimeError(
            "sharing_request_subjects holds hashes of a subject key after version 1: re-key them to version 1 "
            "(CALDICOTT_SUBJECT_KEY_CURRENT=1, caldicott subjects rekey) before going down"
        )
    with op.batch_alter_table("sharing_request_versions") as batch_op:
        batch_op.drop_column("subject_key_version")
    with op.batch_alter_table("sharing_request_subjects") as batch_op:
        batch_op.drop_index(batch_op.f("ix_sharing_request_subjects_key_version"))
        batch_op.drop_column("key_version")
