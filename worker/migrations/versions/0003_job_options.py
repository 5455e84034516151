"""Per-job analysis options (Issue 12): one JSON document per job, NULL for all-auto.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable with no default: existing rows keep NULL, which worker.options reads as all-auto,
    # so adding the column rewrites no row and takes no long lock on PostgreSQL.
    op.add_column("video_analysis_jobs",
                  sa.Column("options", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")))


def downgrade() -> None:
    raise NotImplementedError("downgrading would drop data; restore a backup instead")
