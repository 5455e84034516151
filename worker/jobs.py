"""The job store: table `video_analysis_jobs` and the fenced state changes the worker makes on it.

Every write after a claim carries the attempt number the claim returned
(`attempts = :attempt`), so a worker whose lease was taken over can never
overwrite the newer attempt's work. Lease times come from the database clock,
so the workers' own clocks do not matter.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

QUEUED, PROCESSING, COMPLETED, FAILED = "queued", "processing", "completed", "failed"
ERROR_MAX_CHARS = 4000

metadata = sa.MetaData()

jobs_table = sa.Table(
    "video_analysis_jobs",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("s3_bucket", sa.Text(), nullable=False),
    sa.Column("s3_key", sa.Text(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("error", sa.Text()),
    sa.Column("results", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
    sa.Column("lease_owner", sa.Text()),
    sa.Column("artifacts_prefix", sa.Text()),
    sa.Column("lease_message_id", sa.Text()),
    # The job's analysis options as submitted (worker/options.py); NULL, as in rows older than 0003, means all-auto.
    sa.Column("options", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)


class db_now(FunctionElement):
    """The database's current time (SQLite: UTC text with milliseconds, which sorts correctly)."""

    type = sa.DateTime(timezone=True)
    inherit_cache = True


class db_now_plus(FunctionElement):
    """The database's current time plus a number of seconds (may be negative)."""

    type = sa.DateTime(timezone=True)
    inherit_cache = True


@compiles(db_now, "postgresql")
def _now_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return "now()"


@compiles(db_now, "sqlite")
def _now_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


@compiles(db_now_plus, "postgresql")
def _now_plus_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return f"(now() + {compiler.process(element.clauses, **kw)} * interval '1 second')"


@compiles(db_now_plus, "sqlite")
def _now_plus_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', {seconds}))"


def _seconds(value: float) -> db_now_plus:
    return db_now_plus(sa.literal(float(value), sa.Float()))


@dataclass(frozen=True)
class Claim:
    """A job this worker now holds; `attempt` fences every later write."""

    job_id: uuid.UUID
    attempt: int
    s3_bucket: str
    s3_key: str
    # Submit to this attempt's start, by the database clock: a measurement, not part of the claim's identity.
    queue_wait_seconds: float | None = field(default=None, compare=False)
    # The previous attempt's worker died holding the job (its lease expired): nobody settled that attempt.
    took_over: bool = field(default=False, compare=False)
    # What the previous attempt recorded when it handed the job back, if anything.
    previous_error: str | None = field(default=None, compare=False)
    # The options document stored with the job (None: all-auto); validated by the attempt, not here.
    options: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class RequeueOutcome:
    """What `JobStore.requeue` found and did; `previous_status` None means there is no such job."""

    previous_status: str | None
    done: bool
    lease_owner: str | None = None
    lease_remaining_seconds: float | None = None  # negative: expired that long ago


# Every statement here is one row by primary key: anything slower is a sick database or a lock held by a dead
# connection, and the loop must get control back (to retry, to honour the stop window) rather than wait.
STATEMENT_TIMEOUT_MS = 15000
CONNECT_TIMEOUT_SECONDS = 5


def create_engine(database_url: str) -> Engine:
    """An engine that notices dropped connections and fails fast when the database is unreachable.

    TCP keepalives and a TCP user timeout turn a half-open connection (a
    database host gone without a FIN) into an error within about 30 s instead
    of a read that never returns; the statement timeout bounds a stuck query.
    """
    connect_args: dict[str, Any] = {}
    if database_url.startswith("postgresql"):
        # Appended to any `options` the URL carries (e.g. a search_path), never replacing them.
        options = " ".join(filter(None, [sa.engine.make_url(database_url).query.get("options"),
                                         f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"]))
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "keepalives": 1, "keepalives_idle": 10,
                        "keepalives_interval": 5, "keepalives_count": 3, "tcp_user_timeout": 30000,
                        "options": options}
    return sa.create_engine(database_url, pool_pre_ping=True, connect_args=connect_args)


def _clip(error: str) -> str:
    return error if len(error) <= ERROR_MAX_CHARS else error[: ERROR_MAX_CHARS - 3] + "..."


def _as_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


class JobStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def create(self, job_id: uuid.UUID, s3_bucket: str, s3_key: str, options: dict[str, Any] | None = None) -> None:
        """Insert a `queued` row; `options` is the job's options document (validated by the caller), or None."""
        self._run(jobs_table.insert().values(
            id=job_id, status=QUEUED, s3_bucket=s3_bucket, s3_key=s3_key, attempts=0, options=options,
            created_at=db_now(), updated_at=db_now(),
        ))

    def get(self, job_id: uuid.UUID) -> dict[str, Any] | None:
        """The row as plain JSON-ready values (UUID as text, times as ISO 8601 UTC), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(jobs_table.select().where(jobs_table.c.id == job_id)).mappings().first()
        if row is None:
            return None
        doc = {key: _as_utc(value) for key, value in row.items()}
        doc["id"] = str(doc["id"])
        for key, value in doc.items():
            if isinstance(value, datetime):
                doc[key] = value.isoformat()
        return doc

    def lease_remaining(self, job_id: uuid.UUID) -> float | None:
        """Seconds until another worker may take the job over, by the database clock."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(jobs_table.c.lease_expires_at, db_now()).where(jobs_table.c.id == job_id)
            ).first()
        if row is None or row[0] is None:
            return None
        return (_as_utc(row[0]) - _as_utc(row[1])).total_seconds()

    def claim(self, job_id: uuid.UUID, lease_seconds: float, owner: str, message_id: str | None = None
              ) -> Claim | None:
        """Take the job if it is queued or its holder's lease expired; None when someone else has it.

        The row is locked while the previous state is read, so `took_over` says
        truly whether this claim ended a dead worker's attempt.
        """
        c = jobs_table.c
        claimable = sa.or_(c.status == QUEUED, sa.and_(c.status == PROCESSING, c.lease_expires_at < db_now()))
        statement = (
            jobs_table.update()
            .where(c.id == job_id)
            .where(claimable)
            .values(status=PROCESSING, attempts=c.attempts + 1, lease_expires_at=_seconds(lease_seconds),
                    lease_owner=owner, lease_message_id=message_id, started_at=db_now(), updated_at=db_now())
            .returning(c.attempts, c.s3_bucket, c.s3_key, c.created_at, c.started_at, c.options)
        )
        with self.engine.begin() as conn:
            before = conn.execute(sa.select(c.status, c.error).where(c.id == job_id).with_for_update()).first()
            row = conn.execute(statement).first() if before is not None else None
        if row is None:
            return None
        waited = (_as_utc(row.started_at) - _as_utc(row.created_at)).total_seconds()
        return Claim(job_id, row.attempts, row.s3_bucket, row.s3_key, waited,
                     took_over=before.status == PROCESSING, previous_error=before.error, options=row.options)

    def extend_lease(self, claim: Claim, lease_seconds: float) -> bool:
        """Push the lease forward; False means the attempt was fenced off."""
        return self._fenced(claim, lease_expires_at=_seconds(lease_seconds))

    def complete(self, claim: Claim, results: dict[str, Any], artifacts_prefix: str | None = None) -> bool:
        """Store the results, where their artifacts are, and `completed` in one statement (one transaction)."""
        json.dumps(results, allow_nan=False)  # JSONB rejects NaN: fail here, with the reason, not there.
        return self._fenced(claim, status=COMPLETED, results=results, artifacts_prefix=artifacts_prefix, error=None,
                            completed_at=db_now(), lease_expires_at=None)

    def fail(self, claim: Claim, error: str) -> bool:
        return self._fenced(claim, status=FAILED, error=_clip(error), lease_expires_at=None)

    def release(self, claim: Claim, error: str | None = None) -> bool:
        """Hand the job back to the queue unfinished; `error` records why, for the operator."""
        return self._fenced(claim, status=QUEUED, error=None if error is None else _clip(error),
                            lease_expires_at=None, lease_owner=None)

    def requeue(self, job_id: uuid.UUID) -> RequeueOutcome:
        """Make a job nobody is working on `queued` again, for an operator's re-drive.

        `failed`: error and results cleared. `queued`: left as it is (its message
        was lost, e.g. moved to the dead-letter queue). `processing` with an
        expired lease: its worker is gone, so the lease is released. Refused:
        `completed`, and `processing` under a live lease. The row is locked
        while deciding, and the update re-checks the same condition.
        """
        c = jobs_table.c
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(c.status, c.lease_owner, c.lease_expires_at, db_now().label("now"))
                .where(c.id == job_id).with_for_update()
            ).first()
            if row is None:
                return RequeueOutcome(None, False)
            remaining = (None if row.lease_expires_at is None
                         else (_as_utc(row.lease_expires_at) - _as_utc(row.now)).total_seconds())
            outcome = RequeueOutcome(row.status, False, row.lease_owner, remaining)
            nobody_holds_it = sa.or_(c.lease_expires_at.is_(None), c.lease_expires_at < db_now())
            if row.status == FAILED:
                condition, values = c.status == FAILED, {"error": None, "results": None, "started_at": None,
                                                         "completed_at": None}
            elif row.status == QUEUED:
                condition, values = c.status == QUEUED, {}
            elif row.status == PROCESSING and (remaining is None or remaining < 0):
                condition, values = sa.and_(c.status == PROCESSING, nobody_holds_it), {}
            else:
                return outcome
            updated = conn.execute(
                jobs_table.update().where(c.id == job_id, condition)
                .values(status=QUEUED, lease_expires_at=None, lease_owner=None, updated_at=db_now(), **values)
            ).rowcount
        return replace(outcome, done=updated == 1)

    def mark_failed(self, job_id: uuid.UUID, expected_status: str, error: str) -> bool:
        """Fail a job that no worker holds (e.g. its message could not be sent)."""
        c = jobs_table.c
        statement = (jobs_table.update().where(c.id == job_id, c.status == expected_status)
                     .values(status=FAILED, error=_clip(error), updated_at=db_now()))
        return self._run(statement).rowcount == 1

    def _fenced(self, claim: Claim, **values: Any) -> bool:
        c = jobs_table.c
        statement = (
            jobs_table.update()
            .where(c.id == claim.job_id, c.attempts == claim.attempt, c.status == PROCESSING)
            .values(updated_at=db_now(), **values)
        )
        return self._run(statement).rowcount == 1

    def _run(self, statement: Any) -> Any:
        with self.engine.begin() as conn:
            return conn.execute(statement)
