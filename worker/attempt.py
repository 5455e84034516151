"""One attempt at a claimed job: download, analyse, upload, commit, delete, or settle why not.

Every write after the claim is fenced by the attempt number, the lease keeper
holds the job while it runs, and the attempt stops at cancellation points when
its lease is gone or the stop window closes. Its events carry `job_id`,
`attempt` and `message_id`, bound once.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker import emf
from worker.errors import InvalidJobOptions, GaveUp, LeaseLost, StopRequested, describe, error_class, is_permanent
from worker.events import Events
from worker.jobs import COMPLETED, Claim
from worker.lease import LeaseKeeper
from worker.options import InvalidOptions, JobOptions, parse_options
from worker.protection import TaskProtection
from worker.queue import Message
from worker.retry import Bounded, backoff
from worker.runtime import DB_UNAVAILABLE, Runtime, is_outage, timed
from worker.seam import Analyzer, analysis_options

# How long finished results wait in memory for the database to come back before the job is retried.
COMMIT_PATIENCE_SECONDS = 600.0
RETRY_DELAY_BASE_SECONDS = 5.0
PROGRESS_LOG_INTERVAL_SECONDS = 5.0
# A healthy database releases a lease in milliseconds; this much is granted even at the window's very end
# (the container's stopTimeout keeps 10 s beyond WORKER_STOP_TIMEOUT_SECONDS).
HAND_BACK_SECONDS = 1.0


@dataclass
class Attempt:
    rt: Runtime
    analyzer: Analyzer
    protection: TaskProtection
    claim: Claim
    message: Message
    events: Events
    lease_seconds: float
    max_receives: int
    claimed_at: float = field(default_factory=time.monotonic)
    analysis_started: float | None = None
    last_progress_log: float = 0.0
    keeper: LeaseKeeper | None = None
    artifacts_prefix: str | None = None

    @property
    def job_id(self) -> str:
        return str(self.claim.job_id)

    def run(self, timings: dict[str, float]) -> str:
        """See the attempt through; returns its outcome (completed, failed, retry, gave_up, ...)."""
        self.events.emit("job.claimed", receive_count=self.message.receive_count)
        if self.claim.took_over and self.message.receive_count >= self.max_receives:
            return self._give_up(f"attempt {self.claim.attempt - 1}'s worker stopped without settling it (killed, "
                                 "crashed or out of memory) and this is the message's last receive")
        self.protection.set(True, self.job_id)
        settings, services = self.rt.settings, self.rt.services
        workdir: Path | None = None
        try:
            with LeaseKeeper(services.queue, services.jobs, self.claim, self.message, settings.visibility_timeout,
                         self.lease_seconds, self.events) as self.keeper:
                try:
                    workdir = Path(tempfile.mkdtemp(prefix=f"cricksy-job-{self.job_id}-", dir=settings.tmp_dir))
                    results = self._work(workdir, timings)
                    committed = self._commit(results, timings)
                except LeaseLost:
                    committed = False
                except StopRequested as exc:
                    self.keeper.stop()
                    return self._hand_back(str(exc))
                except Exception as exc:
                    self.keeper.stop()
                    if is_permanent(exc):
                        return self._fail(str(exc), error_class(exc), timings)
                    return self._retry_later(exc)
            if not committed:
                return self._lost()
            self.events.emit("job.completed", measure=self._completed_measure(results, timings))
            self.rt.delete(self.message, self.events, timings)
            return "completed"
        finally:
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
            self.protection.set(False, self.job_id)

    # -- doing the work ---------------------------------------------------------------------------

    def _work(self, workdir: Path, timings: dict[str, float]) -> dict[str, Any]:
        claim, services = self.claim, self.rt.services
        job_options = self._options()
        video_dir, out_dir = workdir / "video", workdir / "out"
        video_dir.mkdir()
        out_dir.mkdir()
        with timed(timings, "download"):
            video = services.store.download(claim.s3_bucket, claim.s3_key, video_dir,
                                            self.rt.settings.max_video_bytes, self._on_transfer)
        self.events.emit("job.analysis_started", video_bytes=video.stat().st_size)
        self.analysis_started = time.monotonic()
        supervision: dict[str, Any] = {}
        if getattr(self.analyzer, "supervised", False):  # worker.supervisor: the parent enforces time and stop
            supervision = {"watch": self.checkpoint, "timeout": self.rt.settings.analysis_timeout_seconds}
        with timed(timings, "analysis"):
            results = self.analyzer(video, out_dir, progress=self._on_progress, **analysis_options(self.rt.settings),
                                    options=job_options.to_document(), **supervision)
        if not isinstance(results, dict):
            raise TypeError(f"{self.rt.settings.analyzer} returned {type(results).__name__}, not a dict")
        self.checkpoint(finishing=True)
        if "artifacts" in results:
            # Attempt-scoped keys, as fenced as the commit: the row points at the winner's folder only.
            self.artifacts_prefix = services.store.artifacts_prefix(claim.job_id, claim.attempt)
            with timed(timings, "upload"):
                services.store.upload_artifacts(self.artifacts_prefix, out_dir, results["artifacts"] or {},
                                                self.rt.alive)
        return results

    def _options(self) -> JobOptions:
        """The job's options under this worker's ceiling; a bad document fails the job, never retries it.

        Checked before the download, so a job that can never run costs no transfer.
        """
        try:
            return parse_options(self.claim.options, max_fps_ceiling=self.rt.settings.max_analysis_fps)
        except InvalidOptions as exc:
            raise InvalidJobOptions(f"the job's options cannot be used: {exc}") from None

    def _on_transfer(self) -> None:
        """Called after each downloaded chunk: liveness signal and cancellation point."""
        self.rt.alive()
        self.checkpoint()

    def _on_progress(self, done: int, total: int | None) -> None:
        """The analyzer's `progress` callback: liveness signal and cancellation point."""
        self.rt.alive()
        now = time.monotonic()
        if now - self.last_progress_log >= PROGRESS_LOG_INTERVAL_SECONDS:
            self.last_progress_log = now
            self.events.emit("job.progress", logging.DEBUG, frames_done=done, frames_total=total)
        self.checkpoint(done, total)

    def checkpoint(self, done: int = 0, total: int | None = None, *, finishing: bool = False) -> None:
        """Abandon the attempt if its lease is gone, or if it cannot finish within the stop window.

        While analysing, a few seconds of the window are kept for upload and
        commit, and the remaining analysis time is projected from the progress
        so far, so that a job that clearly cannot make it is handed back early.
        """
        if self.keeper is not None and self.keeper.lost.is_set():
            raise LeaseLost()
        if not self.rt.stopping:
            return
        window = self.rt.window
        left = window.remaining() or 0.0
        if finishing:
            if left <= 0:
                raise StopRequested("the stop window ended before the results were stored")
            return
        keep = min(10.0, window.seconds / 4)
        if left <= keep:
            raise StopRequested("the stop window ends before the analysis can finish")
        if total and done and self.analysis_started is not None:
            needed = (time.monotonic() - self.analysis_started) / done * (total - done)
            if needed > left - keep:
                raise StopRequested(f"the analysis needs about {needed:.0f} s more, past the stop window")

    def _commit(self, results: dict[str, Any], timings: dict[str, float]) -> bool:
        """Store results and `completed` (fenced); while the database is away, keep trying.

        The lease keeper keeps the message hidden meanwhile, so results that
        took minutes to compute are not thrown away over a short outage.
        """
        jobs = self.rt.services.jobs
        give_up_at = time.monotonic() + COMMIT_PATIENCE_SECONDS
        failures = 0
        while True:
            try:
                with timed(timings, "commit"):
                    if jobs.complete(self.claim, results, self.artifacts_prefix):
                        return True
                    # After a dropped connection the first try may have committed after all.
                    row = jobs.get(self.claim.job_id) if failures else None
                    return bool(row and row["status"] == COMPLETED and row["attempts"] == self.claim.attempt)
            except DB_UNAVAILABLE as exc:
                failures += 1
                delay = backoff(failures, cap=10.0)
                self.events.emit("job.commit_retry", logging.WARNING, error=describe(exc),
                                 retry_in_seconds=round(delay, 1))
                if time.monotonic() + delay > give_up_at:
                    raise
                self.rt.alive()  # patiently retrying is alive; the wait is shorter than the liveness slack
                self.checkpoint(finishing=True)
                assert self.keeper is not None
                self.rt.window.wait(delay, until=self.keeper.lost)
                self.checkpoint(finishing=True)

    # -- settling an attempt that did not complete -----------------------------------------------

    def _write(self, write: Callable[[], bool]) -> bool | None:
        """Run a fenced write: True done, False fenced off, None when the database is unavailable."""
        try:
            return write()
        except DB_UNAVAILABLE as exc:
            self.rt.database_lost(self.events, exc)
            return None

    def _completed_measure(self, results: dict[str, Any], timings: dict[str, float]) -> emf.Measure:
        video = results.get("video")
        video = video if isinstance(video, dict) else {}
        return emf.completed(job_seconds=time.monotonic() - self.claimed_at,
                             queue_wait_seconds=self.claim.queue_wait_seconds,
                             frames_analyzed=video.get("frames_analyzed"), analysis_seconds=timings.get("analysis"),
                             video_seconds=video.get("duration_s"))

    def _fail(self, error: str, kind: str, timings: dict[str, float]) -> str:
        written = self._write(lambda: self.rt.services.jobs.fail(self.claim, error))
        if written is None:
            return "retry"
        if written is False:
            return self._lost()
        self.events.emit("job.failed", logging.ERROR, error=error, measure=emf.failed(kind))
        self.rt.delete(self.message, self.events, timings)
        return "failed"

    def _retry_later(self, exc: Exception) -> str:
        """A transient failure: hand the job back with a delay, or give up once retrying is pointless.

        Pointless: the queue would not deliver the message again (its receive
        count reached maxReceiveCount), or an unexpected error (a bug, not an
        outage) repeats word for word what the previous attempt recorded, so
        a deterministic bug costs two analyses, not maxReceiveCount.
        """
        jobs, error = self.rt.services.jobs, describe(exc)
        if isinstance(exc, DB_UNAVAILABLE):
            self.rt.database_lost(self.events, exc)
        receive_count = self.message.receive_count
        if receive_count >= self.max_receives:
            return self._give_up(error, exc_info=True)
        if not is_outage(exc) and self.claim.previous_error == self._retry_note(self.claim.attempt - 1, error):
            return self._give_up(f"the same unexpected error twice in a row, taken for a bug: {error}", exc_info=True)
        note = self._retry_note(self.claim.attempt, error)
        written = self._write(lambda: jobs.release(self.claim, note))
        if written is False:
            return self._lost()
        delay = round(backoff(receive_count, base=RETRY_DELAY_BASE_SECONDS, cap=self.rt.settings.visibility_timeout), 1)
        if written:
            self.rt.set_visibility(self.message, delay, self.events)
        self.events.emit("job.retry", logging.WARNING, receive_count=receive_count, error=error,
                         retry_in_seconds=delay if written else None, exc_info=True, measure=emf.RETRIED)
        return "retry"

    @staticmethod
    def _retry_note(attempt: int, error: str) -> str:
        return f"attempt {attempt} failed, will retry: {error}"

    def _give_up(self, why: str, exc_info: bool = False) -> str:
        """Fail the job as GaveUp and let the queue move the message to the dead-letter queue."""
        reason = f"gave up after {self.claim.attempt} attempts: {why}"
        written = self._write(lambda: self.rt.services.jobs.fail(self.claim, reason))
        if written is False:
            return self._lost()
        if written:
            # Visible again at once, so the queue moves it to the dead-letter queue on the next receive.
            self.rt.set_visibility(self.message, 0, self.events)
        self.events.emit("job.gave_up", logging.ERROR, receive_count=self.message.receive_count, error=reason,
                         recorded=bool(written), exc_info=exc_info, measure=emf.failed(GaveUp.error_class))
        return "gave_up"

    def _lost(self) -> str:
        """Another attempt owns the job now: write nothing, leave its message alone."""
        self.events.emit("job.abandoned", logging.WARNING, reason="another attempt took the job over; nothing written")
        return "lease_lost"

    def _hand_back(self, reason: str) -> str:
        """Release the lease within what is left of the stop window; if the database is slower, the lease lapses."""
        try:
            written = Bounded(self.rt.window).call(
                lambda: self._write(lambda: self.rt.services.jobs.release(self.claim)), at_least=HAND_BACK_SECONDS)
        except TimeoutError as exc:
            self.rt.database_lost(self.events, exc)
            written = None
        if written is False:
            return self._lost()
        self.rt.set_visibility(self.message, 0, self.events)
        self.events.emit("job.handed_back", logging.WARNING, reason=reason, lease_released=bool(written))
        return "handed_back"
