"""Create video_analysis_jobs.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = sa.text("CURRENT_TIMESTAMP")
    op.create_table(
        "video_analysis_jobs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("s3_bucket", sa.Text(), nullable=False),
        sa.Column("s3_key", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text()),
        sa.Column("results", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("lease_owner", sa.Text()),
        sa.CheckConstraint("status IN ('queued', 'processing', 'completed', 'failed')",
                           name="ck_video_analysis_jobs_status"),
    )
    op.create_index("ix_video_analysis_jobs_status", "video_analysis_jobs", ["status"])


def downgrade() -> None:
    raise NotImplementedError("downgrading would drop every job row; restore a backup instead")
