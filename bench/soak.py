"""Soak the job loop under faults: 3 workers, 100 jobs, random kill -9, SIGTERM and database outages.

Run by hand, never by the tests:

    .venv/bin/python bench/soak.py --jobs 100 --workers 3 --seed 14

Each worker is a real `cricksy-worker run` process with the stand-in analyzer
`count_frames` slowed to ~0.6 s a job (sleeping, so CPU-light), against a moto
server over HTTP and PostgreSQL reached through a TCP proxy the bench cuts
(the shared server itself is never restarted). While jobs run, a chaos loop
picks one fault every 1-3 s: kill -9 a worker, SIGTERM a worker, or cut the
database for 1-4 s; a stopped worker is replaced at once. Then it reports:

    lost        jobs that did not end `completed` (the stand-in never fails a job)
    duplicated  jobs whose `job.completed` event appears more than once across all workers
    stuck       rows not in a terminal state when the bench ends
    p95         submit (row created_at) to terminal state (completed_at), by the database clock

All three counts must be 0. Everything created (schema, bucket, queues) is thrown away at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import aws  # noqa: E402
from tests.support.postgres import admin_engine, temporary_schema  # noqa: E402
from tests.support.standins import write_clip  # noqa: E402
from tests.worker.harness import TcpProxy, WorkerProcess  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting after this many seconds")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="cricksy-soak-") as scratch:
        endpoint = stack.enter_context(aws.moto_server())
        os.environ.update(aws.aws_environ(endpoint))
        engine = admin_engine()
        stack.callback(engine.dispose)
        database_url = stack.enter_context(temporary_schema(engine))
        proxy = TcpProxy(("127.0.0.1", 5432))
        stack.callback(proxy.cut)
        proxied_url = database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")

        from worker import migrations
        from worker.clients import connect
        from worker.config import load_settings
        from worker.jobs import create_engine
        from worker.submission import submit

        migrate = create_engine(load_settings({"DATABASE_URL": database_url}, aws=False).database_url)
        migrations.upgrade(migrate)
        migrate.dispose()
        s3, sqs = aws.client("s3", endpoint), aws.client("sqs", endpoint)
        bucket = aws.create_bucket(s3)
        queues = aws.create_queues(sqs, max_receive_count=5)
        work = Path(scratch)
        (work / "tmp").mkdir()
        env = aws.worker_environ(endpoint, database_url=proxied_url, queue_url=queues.url, bucket=bucket,
                                 WORKER_TMP_DIR=str(work / "tmp"),
                                 WORKER_ANALYZER="tests.support.standins:count_frames",
                                 CRICKSY_TEST_FRAME_DELAY="0.05", WORKER_VISIBILITY_TIMEOUT_SECONDS="4",
                                 WORKER_STOP_TIMEOUT_SECONDS="3", WORKER_POLL_WAIT_SECONDS="1")
        services = connect(load_settings({**env, "DATABASE_URL": database_url}))
        stack.callback(services.jobs.engine.dispose)

        started: list[WorkerProcess] = []

        def start() -> WorkerProcess:
            process = WorkerProcess(env, work / f"worker-{len(started)}.log")
            started.append(process)
            return process

        stack.callback(lambda: [p.stop() for p in started])
        live = [start() for _ in range(args.workers)]
        clip = write_clip(work / "swing.mp4")
        job_ids = []
        faults: Counter[str] = Counter()
        began = time.monotonic()

        def terminal() -> int:
            rows = [services.jobs.get(job_id) for job_id in job_ids]
            return sum(row is not None and row["status"] in ("completed", "failed") for row in rows)

        next_fault = time.monotonic() + rng.uniform(1, 3)
        while len(job_ids) < args.jobs or terminal() < args.jobs:
            if time.monotonic() - began > args.timeout:
                break
            if len(job_ids) < args.jobs:
                job_ids += [submit(services, clip) for _ in range(min(5, args.jobs - len(job_ids)))]
            if time.monotonic() >= next_fault and terminal() < args.jobs * 0.9:  # faults through most of the run
                fault = rng.choice(["kill -9", "SIGTERM", "database outage"])
                faults[fault] += 1
                if fault == "database outage":
                    proxy.cut()
                    time.sleep(rng.uniform(1, 4))
                    proxy.restore()
                else:
                    victim = rng.choice(live)
                    victim.signal(signal.SIGKILL if fault == "kill -9" else signal.SIGTERM)
                    victim.proc.wait(60)
                    live.remove(victim)
                    live.append(start())
                next_fault = time.monotonic() + rng.uniform(1, 3)
            time.sleep(0.5)
        elapsed = time.monotonic() - began

        for process in live:
            process.signal(signal.SIGTERM)
        for process in live:
            process.proc.wait(60)
        rows = {job_id: services.jobs.get(job_id) for job_id in job_ids}
        completed = Counter(e["job_id"] for p in started for e in p.events("job.completed"))
        durations = []
        for row in rows.values():
            if row and row["completed_at"]:
                durations.append((datetime.fromisoformat(row["completed_at"])
                                  - datetime.fromisoformat(row["created_at"])).total_seconds())
        report = {
            "jobs": len(job_ids), "workers": args.workers, "seed": args.seed, "seconds": round(elapsed, 1),
            "faults": dict(faults), "worker_processes_started": len(started),
            "lost": sum(1 for row in rows.values() if not row or row["status"] != "completed"),
            "duplicated": sum(1 for count in completed.values() if count > 1),
            "stuck": sum(1 for row in rows.values() if not row or row["status"] not in ("completed", "failed")),
            "p95_submit_to_terminal_seconds": round(percentile(durations, 0.95), 2) if durations else None,
            "median_submit_to_terminal_seconds": round(percentile(durations, 0.5), 2) if durations else None,
            "attempts": dict(Counter(row["attempts"] for row in rows.values() if row)),
            "dead_letter_queue": queues.counts(queues.dlq_url),
        }
        print(json.dumps(report, indent=2))
        return 0 if report["lost"] == report["duplicated"] == report["stuck"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
