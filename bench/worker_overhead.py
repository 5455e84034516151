"""Measure the worker loop's own cost per job, to compare with analysis time later.

Pushes N small jobs through ONE `cricksy-worker run` process that uses a trivial
analyzer, against a moto server over HTTP (S3 + SQS) and PostgreSQL (or SQLite),
then reads the worker's own `job.finished` events and reports throughput and the
per-job time spent in each phase: poll, claim, download, analysis, upload,
commit, delete.

    source /work/venv/bin/activate && cd /work/main && python bench/worker_overhead.py --jobs 200

Needs the PostgreSQL server the tests use (127.0.0.1:5432, database `test`);
everything it creates (a schema, a bucket, queues) is thrown away at the end.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import aws  # noqa: E402
from tests.support.postgres import admin_engine, temporary_schema  # noqa: E402
from tests.support.standins import write_clip  # noqa: E402
from tests.worker.harness import WorkerProcess, wait_until  # noqa: E402

PHASES = ("poll", "claim", "download", "analysis", "upload", "commit", "delete")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="number of jobs (default 200)")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="cricksy-bench-") as scratch:
        endpoint = stack.enter_context(aws.moto_server())
        os.environ.update(aws.aws_environ(endpoint))
        if args.database == "postgresql":
            engine = admin_engine()
            stack.callback(engine.dispose)
            database_url = stack.enter_context(temporary_schema(engine))
        else:
            database_url = f"sqlite:///{scratch}/jobs.db"

        from worker import migrations
        from worker.clients import connect
        from worker.config import load_settings
        from worker.jobs import create_engine
        from worker.submission import submit

        migrations.upgrade(create_engine(load_settings({"DATABASE_URL": database_url}, aws=False).database_url))
        queues = aws.create_queues(aws.client("sqs", endpoint), max_receive_count=5)
        bucket = aws.create_bucket(aws.client("s3", endpoint))
        env = aws.worker_environ(endpoint, database_url=database_url, queue_url=queues.url, bucket=bucket,
                                 WORKER_ANALYZER="tests.support.standins:trivial", WORKER_POLL_WAIT_SECONDS="5",
                                 WORKER_VISIBILITY_TIMEOUT_SECONDS="60", WORKER_TMP_DIR=scratch)
        services = connect(load_settings(env))
        clip = write_clip(Path(scratch) / "clip.mp4")
        print(f"submitting {args.jobs} jobs ({clip.stat().st_size} bytes each) ...", file=sys.stderr)
        for _ in range(args.jobs):
            submit(services, clip)
        services.jobs.engine.dispose()

        worker = WorkerProcess(env, Path(scratch) / "worker.log")
        stack.callback(worker.stop)
        wait_until(lambda: len(worker.events("job.finished")) >= args.jobs, 600, f"{args.jobs} jobs")
        worker.signal(signal.SIGTERM)
        worker.wait(30)

        finished = worker.events("job.finished")
        received = worker.events("message.received")
        outcomes = {e["outcome"] for e in finished}
        if outcomes != {"completed"}:
            print(f"unexpected outcomes: {outcomes}; log tail:\n{worker.tail()}", file=sys.stderr)
            return 1
        start = datetime.fromisoformat(received[0]["ts"])
        end = datetime.fromisoformat(finished[-1]["ts"])
        elapsed = (end - start).total_seconds()
        totals = [sum(e["timings_ms"].values()) for e in finished]

        print(f"\n{args.jobs} jobs, one worker, moto over HTTP + {args.database}, trivial analyzer")
        print(f"throughput: {args.jobs / elapsed:.1f} jobs/s ({elapsed:.2f} s from first receive to last finish)")
        print(f"\n{'phase (ms/job)':<16}{'mean':>9}{'p50':>9}{'p95':>9}")
        for phase in (*PHASES, "total"):
            values = totals if phase == "total" else [e["timings_ms"].get(phase, 0.0) for e in finished]
            print(f"{phase:<16}{statistics.fmean(values):>9.2f}{percentile(values, 0.5):>9.2f}"
                  f"{percentile(values, 0.95):>9.2f}")
        print(f"{'wall per job':<16}{elapsed / args.jobs * 1000:>9.2f}   (includes logging, temp dirs, "
              "heartbeat thread start)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
