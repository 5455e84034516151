"""Where the committed attempt's artifacts are, and which message the lease holder was given.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # results/<job_id>/<attempt>/: the committed result's artifact file names live under it.
    op.add_column("video_analysis_jobs", sa.Column("artifacts_prefix", sa.Text()))
    # The SQS MessageId the current lease holder received: any other message for the job is a duplicate.
    op.add_column("video_analysis_jobs", sa.Column("lease_message_id", sa.Text()))


def downgrade() -> None:
    raise NotImplementedError("downgrading would drop data; restore a backup instead")
