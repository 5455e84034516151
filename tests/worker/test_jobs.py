"""The job store on PostgreSQL and SQLite: migrations, claims, fencing."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from worker import migrations
from worker.config import load_settings
from worker.jobs import Claim, JobStore, create_engine, jobs_table


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(load_settings({"DATABASE_URL": database_url}, aws=False).database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: sa.Engine) -> JobStore:
    migrations.upgrade(engine)
    return JobStore(engine)


def new_job(store: JobStore) -> uuid.UUID:
    job_id = uuid.uuid4()
    store.create(job_id, "cricksy-coach-videos", f"uploads/{job_id}/swing.mp4")
    return job_id


def test_migrations_run_twice_keep_rows_and_leave_other_alembic_history_alone(engine: sa.Engine) -> None:
    with engine.begin() as conn:  # another application's alembic history in the same database
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('backend_42')"))
    assert migrations.upgrade(engine) == (None, "0003")
    store = JobStore(engine)
    job_id = new_job(store)
    assert migrations.upgrade(engine) == ("0003", "0003")
    assert store.get(job_id)["status"] == "queued"
    assert migrations.current_revision(engine) == migrations.head_revision() == "0003"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "backend_42"
        columns = {c["name"] for c in sa.inspect(conn).get_columns("video_analysis_jobs")}
    assert {"id", "status", "s3_bucket", "s3_key", "attempts", "error", "results", "created_at", "started_at",
            "completed_at", "updated_at"} <= columns


def test_upgrading_a_database_with_old_rows_reads_them_as_all_auto_options(postgres_url: str) -> None:
    """A table filled under revision 0002 gains `options` (JSONB), its rows NULL: all-auto, claimable as before."""
    from alembic import command

    from worker.options import parse_options

    engine = create_engine(load_settings({"DATABASE_URL": postgres_url}, aws=False).database_url)
    with engine.begin() as conn:
        command.upgrade(migrations._config(conn), "0002")
        old_id = uuid.uuid4()
        conn.execute(sa.text(
            "INSERT INTO video_analysis_jobs (id, status, s3_bucket, s3_key, attempts, created_at, updated_at) "
            "VALUES (:id, 'queued', 'b', 'uploads/old.mp4', 0, now(), now())"), {"id": old_id})
    assert migrations.upgrade(engine) == ("0002", "0003")
    store = JobStore(engine)
    with engine.connect() as conn:
        kind = conn.execute(sa.text(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'video_analysis_jobs' "
            "AND column_name = 'options' AND table_schema = current_schema()")).scalar()
    assert kind == "jsonb"
    assert store.get(old_id)["options"] is None
    claim = store.claim(old_id, 60, "w")
    assert claim is not None and claim.options is None
    assert parse_options(claim.options).to_document()["activity"] == "auto"
    new_id = uuid.uuid4()
    store.create(new_id, "b", "uploads/new.mp4", {"activity": "bowling", "max_fps": 50})
    assert store.claim(new_id, 60, "w").options == {"activity": "bowling", "max_fps": 50}
    engine.dispose()


def test_results_are_jsonb_on_postgresql(postgres_url: str) -> None:
    engine = create_engine(load_settings({"DATABASE_URL": postgres_url}, aws=False).database_url)
    migrations.upgrade(engine)
    with engine.connect() as conn:
        kind = conn.execute(sa.text(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'video_analysis_jobs' "
            "AND column_name = 'results' AND table_schema = current_schema()")).scalar()
    engine.dispose()
    assert kind == "jsonb"


def test_status_values_are_constrained(store: JobStore) -> None:
    job_id = new_job(store)
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE video_analysis_jobs SET status = 'done'"))
    assert store.get(job_id)["status"] == "queued"


def test_a_claim_bumps_attempts_and_excludes_others_until_the_lease_expires(store: JobStore) -> None:
    job_id = new_job(store)
    first = store.claim(job_id, 30, "worker-a")
    assert first == Claim(job_id, 1, "cricksy-coach-videos", f"uploads/{job_id}/swing.mp4")
    row = store.get(job_id)
    assert (row["status"], row["attempts"], row["lease_owner"]) == ("processing", 1, "worker-a")
    assert row["started_at"] is not None and row["lease_expires_at"] > row["started_at"]
    assert store.claim(job_id, 30, "worker-b") is None
    assert 25 < store.lease_remaining(job_id) <= 30

    assert store.extend_lease(first, -1)  # the lease runs out (as if worker-a had died)
    second = store.claim(job_id, 30, "worker-b")
    assert second is not None and second.attempt == 2


def test_a_stale_attempt_can_write_nothing(store: JobStore) -> None:
    job_id = new_job(store)
    stale = store.claim(job_id, -1, "worker-a")  # claimed with an already expired lease
    fresh = store.claim(job_id, 30, "worker-b")
    assert (stale.attempt, fresh.attempt) == (1, 2)
    assert not store.complete(stale, {"frames": 1})
    assert not store.fail(stale, "late failure")
    assert not store.release(stale)
    assert not store.extend_lease(stale, 30)
    row = store.get(job_id)
    assert (row["status"], row["attempts"], row["results"], row["error"], row["lease_owner"]) == (
        "processing", 2, None, None, "worker-b")

    assert store.complete(fresh, {"frames": 12, "artifacts": {"a": "results/x/a.json"}})
    row = store.get(job_id)
    assert (row["status"], row["results"]["frames"], row["lease_expires_at"]) == ("completed", 12, None)
    assert row["completed_at"] is not None
    assert store.claim(job_id, 30, "worker-c") is None  # completed jobs are never claimed again


def test_results_that_json_cannot_hold_are_refused_before_writing(store: JobStore) -> None:
    job_id = new_job(store)
    claim = store.claim(job_id, 30, "w")
    with pytest.raises(ValueError):
        store.complete(claim, {"angle": float("nan")})
    assert store.get(job_id)["status"] == "processing"


def test_release_hands_the_job_back_with_the_reason(store: JobStore) -> None:
    job_id = new_job(store)
    claim = store.claim(job_id, 30, "w")
    assert store.release(claim, "attempt 1 failed, will retry: OSError: disk full")
    row = store.get(job_id)
    assert (row["status"], row["attempts"], row["lease_expires_at"]) == ("queued", 1, None)
    assert row["error"] == "attempt 1 failed, will retry: OSError: disk full"
    assert store.claim(job_id, 30, "w").attempt == 2


def _expire_lease(store: JobStore, job_id: uuid.UUID) -> None:
    with store.engine.begin() as conn:
        conn.execute(jobs_table.update().where(jobs_table.c.id == job_id)
                     .values(lease_expires_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))


def test_requeue_moves_only_jobs_nobody_is_working_on(store: JobStore) -> None:
    job_id = new_job(store)
    queued = store.requeue(job_id)  # e.g. its message went to the dead-letter queue: the row is left as it is
    assert (queued.previous_status, queued.done) == ("queued", True)
    assert (store.get(job_id)["status"], store.get(job_id)["attempts"]) == ("queued", 0)

    claim = store.claim(job_id, 30, "w")
    held = store.requeue(job_id)
    assert (held.previous_status, held.done, held.lease_owner) == ("processing", False, "w")
    assert 25 < held.lease_remaining_seconds <= 30
    assert store.get(job_id)["status"] == "processing"

    _expire_lease(store, job_id)
    expired = store.requeue(job_id)
    assert (expired.previous_status, expired.done) == ("processing", True)
    assert expired.lease_remaining_seconds < 0
    row = store.get(job_id)
    assert (row["status"], row["attempts"], row["lease_owner"], row["lease_expires_at"]) == ("queued", 1, None, None)
    assert not store.extend_lease(claim, 30)  # the vanished worker's attempt stays fenced off
    assert store.claim(job_id, 30, "w2").attempt == 2


def test_requeue_clears_a_failed_job_and_refuses_a_completed_one(store: JobStore) -> None:
    job_id = new_job(store)
    store.fail(store.claim(job_id, 30, "w"), "video is not a video")
    assert store.requeue(job_id).done
    row = store.get(job_id)
    assert (row["status"], row["error"], row["attempts"]) == ("queued", None, 1)

    store.complete(store.claim(job_id, 30, "w"), {"frames": 1})
    completed = store.requeue(job_id)
    assert (completed.previous_status, completed.done) == ("completed", False)
    assert store.get(job_id)["results"] == {"frames": 1}
    assert store.requeue(uuid.uuid4()).previous_status is None


def test_concurrent_claims_have_exactly_one_winner(postgres_url: str) -> None:
    engine = create_engine(load_settings({"DATABASE_URL": postgres_url}, aws=False).database_url)
    migrations.upgrade(engine)
    store = JobStore(engine)
    job_ids = [new_job(store) for _ in range(20)]
    barrier = threading.Barrier(4)
    wins: list[Claim] = []

    def contend(owner: str) -> None:
        barrier.wait()
        for job_id in job_ids:
            claim = store.claim(job_id, 30, owner)
            if claim is not None:
                wins.append(claim)

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert sorted(str(c.job_id) for c in wins) == sorted(str(j) for j in job_ids)
    assert {c.attempt for c in wins} == {1}


def test_a_claim_measures_the_queue_wait_by_the_database_clock(store: JobStore) -> None:
    job_id = new_job(store)
    with store.engine.begin() as conn:  # submitted ten minutes ago
        created = conn.execute(sa.select(jobs_table.c.created_at).where(jobs_table.c.id == job_id)).scalar()
        conn.execute(jobs_table.update().where(jobs_table.c.id == job_id)
                     .values(created_at=created - timedelta(minutes=10)))
    claim = store.claim(job_id, 30, "w")
    assert 600 <= claim.queue_wait_seconds < 660


def test_postgresql_connections_have_keepalives_a_statement_timeout_and_keep_the_urls_options(
        postgres_url: str) -> None:
    from worker.config import load_settings
    from worker.jobs import STATEMENT_TIMEOUT_MS, create_engine

    engine = create_engine(load_settings({"DATABASE_URL": postgres_url}, aws=False).database_url)
    try:
        with engine.connect() as conn:
            timeout = conn.exec_driver_sql("SHOW statement_timeout").scalar()
            search_path = conn.exec_driver_sql("SHOW search_path").scalar()
            params = conn.connection.dbapi_connection.info.get_parameters()
    finally:
        engine.dispose()
    assert timeout == f"{STATEMENT_TIMEOUT_MS // 1000}s"
    assert search_path.startswith("cricksy_t_")  # the URL's own options survive
    assert (params["keepalives"], params["keepalives_idle"], params["tcp_user_timeout"]) == ("1", "10", "30000")
