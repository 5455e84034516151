"""`cricksy-worker`: a thin Click layer over the worker's functions."""
from __future__ import annotations

from pathlib import Path

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Cricksy video-analysis worker.

    \b
    Example:
      cricksy-worker analyze swing.mp4 --out out/
    """


# -- the job loop and its operator commands, configured from the environment (worker/config.py).
# Imports stay inside the commands so that each command loads only what it uses.

class _JobId(click.ParamType):
    name = "JOB_ID"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        import uuid

        try:
            return uuid.UUID(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a job id (expected a UUID such as 3f2b8c1e-...)", param, ctx)


def _settings(aws: bool) -> object:
    """Validated settings, with logging set up; configuration problems raise `ConfigError` (exit 2)."""
    from worker.config import load_settings
    from worker.logs import configure

    settings = load_settings(aws=aws)
    configure(settings.log_level)
    return settings


def _exits(what: str) -> object:
    """Map failures to exit codes: 2 with the message for configuration, 1 with one line otherwise."""
    import functools

    def decorate(command):  # noqa: ANN001, ANN202
        @functools.wraps(command)
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            import logging

            from worker.config import ConfigError

            try:
                return command(*args, **kwargs)
            except ConfigError as exc:
                click.echo(f"error: {exc}", err=True)
                raise SystemExit(2) from None
            except Exception as exc:
                logging.getLogger("worker.cli").debug("%s failed", what, exc_info=True)
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                click.echo(f"error: {what} failed: {detail}", err=True)
                raise SystemExit(1) from None

        return wrapper

    return decorate


@main.command("run")
@_exits("the worker")
def run_command() -> None:
    """Run the service: long-poll SQS, analyse each video, store results; SIGTERM stops it cleanly."""
    import signal

    from worker.retry import StopWindow

    # First, before the heavy imports: a SIGTERM while starting must be a clean stop, not exit 143.
    window = StopWindow(0.0)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda num, _frame: window.request(signal.Signals(num).name))

    import logging

    from multiprocessing import resource_tracker

    from worker.clients import connect
    from worker.errors import describe
    from worker.logs import log_event, route_native_stderr
    from worker.service import Worker
    from worker.supervisor import Supervised

    settings = _settings(aws=True)
    window.seconds = settings.stop_timeout_seconds
    # multiprocessing's resource tracker outlives every analysis child; started before stderr becomes the
    # native-output pipe, it does not hold that pipe open (and the exit waiting for it) until the very end.
    resource_tracker.ensure_running()
    route_native_stderr()
    worker = Worker(settings, connect(settings), Supervised(settings.analyzer), window=window)
    try:
        worker.run()
    except Exception as exc:  # stderr stays JSON lines once the service has started logging
        log_event(logging.getLogger("worker.cli"), "worker.failed", logging.CRITICAL, job_id=None,
                  error=describe(exc), exc_info=True)
        raise SystemExit(1) from None


@main.command("init-db")
@_exits("init-db")
def init_db_command() -> None:
    """Create or upgrade the job table (alembic); safe to run again, never drops rows."""
    import logging

    from worker import migrations
    from worker.jobs import create_engine
    from worker.logs import log_event

    settings = _settings(aws=False)
    before, after = migrations.upgrade(create_engine(settings.database_url))
    log_event(logging.getLogger("worker.cli"), "db.migrated", job_id=None,
              database=settings.database_url_redacted, from_revision=before, to_revision=after)


def _option_flags(command):  # noqa: ANN001, ANN202
    """--activity, --handedness, --view, --subject, --max-fps for `submit` (the job's options document)."""
    for flag in reversed([
        click.option("--activity", type=click.Choice(["auto", "batting", "bowling"]), default=None,
                     help="What the clip shows.  [default: auto, decided from the movement]"),
        click.option("--handedness", type=click.Choice(["auto", "left", "right"]), default=None,
                     help="The batter's stance or the bowler's arm.  [default: auto]"),
        click.option("--view", type=click.Choice(["auto", "side-on", "front-on", "behind"]), default=None,
                     help="Where the camera stands.  [default: auto, taken as side-on]"),
        click.option("--subject", metavar="X,Y[,W,H][,T]", default=None,
                     help="Who to analyse: a point X,Y or a box X,Y,W,H (top-left corner and size) as shares of "
                          "the frame, optionally at T seconds.  [default: the largest person]"),
        click.option("--max-fps", "max_fps", metavar="FPS", default=None,
                     help="Analyse at most this many frames per second, 10 up to WORKER_MAX_ANALYSIS_FPS.  "
                          "[default: the ceiling, 60]"),
    ]):
        command = flag(command)
    return command


@main.command("submit")
@click.argument("video", type=click.Path(exists=True, dir_okay=False, readable=True))
@_option_flags
@_exits("submit")
def submit_command(video: str, activity: str | None, handedness: str | None, view: str | None,
                   subject: str | None, max_fps: str | None) -> None:
    """Upload VIDEO, record a queued job with its options and queue it; prints only the job id.

    Options are checked before anything is uploaded: a bad one exits 2 naming it.
    """
    from pathlib import Path

    from worker.clients import connect
    from worker.options import InvalidOptions, options_from_flags, parse_options
    from worker.submission import submit

    settings = _settings(aws=True)
    try:
        doc = options_from_flags(activity, handedness, view, subject, max_fps)
        parse_options(doc, max_fps_ceiling=settings.max_analysis_fps)
    except InvalidOptions as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    click.echo(str(submit(connect(settings), Path(video), doc or None,
                          max_fps_ceiling=settings.max_analysis_fps)))


@main.command("status")
@click.argument("job_id", type=_JobId())
@_exits("status")
def status_command(job_id: object) -> None:
    """Print the job's row as JSON."""
    import json

    from worker.jobs import JobStore, create_engine

    row = JobStore(create_engine(_settings(aws=False).database_url)).get(job_id)
    if row is None:
        raise LookupError(f"job {job_id} does not exist in video_analysis_jobs")
    click.echo(json.dumps(row, indent=2, sort_keys=True))


@main.command("health")
def health_command() -> None:
    """Liveness check for the container healthCheck: exit 0 while the worker loop shows progress.

    Exits 1 with one line on stderr when the configuration is invalid, the
    configured analyzer's own check fails (the built-in worker.analysis checks
    that its pose model is the pinned file), or the loop's heartbeat file
    ({WORKER_TMP_DIR}/heartbeat) is missing or older than the liveness
    threshold (WORKER_LIVENESS_SECONDS, default WORKER_POLL_WAIT_SECONDS + 40).
    Makes no AWS or database call.
    """
    from worker.health import Unhealthy, check

    try:
        summary = check()
    except Unhealthy as exc:
        click.echo(f"unhealthy: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(summary)


@main.command("requeue")
@click.argument("job_id", type=_JobId())
@_exits("requeue")
def requeue_command(job_id: object) -> None:
    """Re-drive a job nobody is working on, with a new queue message; prints the job id.

    \b
    failed       error cleared, back to queued
    queued       left queued: its message was lost, e.g. moved to the
                 dead-letter queue while the database was unreachable
    processing   only once its lease has expired (its worker is gone):
                 lease released, back to queued

    Refuses a completed job and a job a worker holds under a live lease. The
    job.requeued event on stderr says which case applied. A message too many
    is harmless: the conditional claim runs the job once.
    """
    from worker.clients import connect
    from worker.submission import requeue

    requeue(connect(_settings(aws=True)), job_id)
    click.echo(str(job_id))


# -- local analysis and the pose model: no AWS, no database.

class _TerminalProgress:
    """A progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, label: str) -> None:
        import sys

        self.label = label
        self.enabled = sys.stderr.isatty()
        self.bar = None
        self.shown = 0

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=click.get_text_stream("stderr"))
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@main.command("analyze")
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for result.json and the pictures (created if needed).  [default: out/<video name>]")
@click.option("--max-fps", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Analyse at most this many frames per second of video (slow motion is thinned evenly); "
                   "0 analyses every frame.")
@click.option("--activity", type=click.Choice(["auto", "batting", "bowling"]), default="auto", show_default=True,
              help="What the clip shows; auto decides from the movement.")
@click.option("--view", type=click.Choice(["auto", "side-on", "front-on", "behind"]), default="auto",
              show_default=True, help="Where the camera stands; auto is taken as side-on.")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=300.0, show_default=True,
              help="Refuse videos longer than this.")
@click.option("--handedness", type=click.Choice(["auto", "left", "right"]), default="auto", show_default=True,
              help="The player's stance; auto guesses it from the picture.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False),
              help="Pose model file.  [default: $POSE_MODEL_PATH or the per-user cache]")
@click.option("--subject", metavar="X,Y[,W,H][,T]", default=None,
              help="Who to analyse: a point X,Y or a box X,Y,W,H (top-left corner and size) as shares of the "
                   "frame, optionally at T seconds, as for `submit`.  [default: the largest person]")
@click.option("--processes", type=click.IntRange(min=1, max=64), default=None,
              help="Analysis processes, each on its own segment of the clip.  [default: $WORKER_ANALYSIS_PROCESSES "
                   "or the CPUs this machine lets the command use]")
def analyze_command(video, out_dir, max_fps: float, activity: str, view: str, max_seconds: float, handedness: str,
                    model_path, subject: str | None, processes: int | None) -> None:
    """Analyse VIDEO on this machine: write result.json and pictures to DIR, print a summary.

    Exits 2 when the video cannot be analysed (the message says why) and 1 when
    the pose model is missing or wrong.
    """
    import json

    from worker.analysis import AnalysisOptions, analyze
    from worker.atomicfile import write_bytes_atomic
    from worker.errors import InvalidVideoError
    from worker.analysis.model import ModelError
    from worker.analysis.summary import summarize

    from worker.options import InvalidOptions, options_from_flags, parse_options

    try:
        hint = parse_options(options_from_flags(subject=subject)).subject
    except InvalidOptions as exc:
        raise click.BadParameter(str(exc), param_hint="--subject") from None
    if processes is None:
        from worker.config import ConfigError
        from worker.cpus import analysis_processes

        try:
            processes = analysis_processes()
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
    out = out_dir if out_dir is not None else Path("out") / video.stem
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    options = AnalysisOptions(max_fps=max_fps or None, max_seconds=max_seconds, handedness=handedness,
                              model_path=model_path, subject=hint, activity=activity, view=view,
                              processes=processes)
    progress = _TerminalProgress(f"analysing {video.name}")
    try:
        result = analyze(video, out, progress=progress, options=options)
    except (InvalidVideoError, ModelError) as exc:
        progress.close()
        if created:
            out.rmdir()
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2 if isinstance(exc, InvalidVideoError) else 1) from None
    progress.close()
    write_bytes_atomic(out / "result.json", (json.dumps(result, indent=2) + "\n").encode())
    click.echo(summarize(result, video.name))
    files = ", ".join(["result.json", *result["artifacts"].values()])
    click.echo(f"wrote {files} to {out}")


@main.command("fetch-model")
@click.option("--dest", metavar="DIR", type=click.Path(file_okay=False), default=None,
              help="Folder to put pose_landmarker_full.task in.  [default: $POSE_MODEL_PATH or the per-user cache]")
def fetch_model_command(dest: str | None) -> None:
    """Fetch the pinned pose model and verify its sha256; nothing is written on a mismatch."""
    from worker.analysis.model import ModelError, fetch_model
    from worker.config import pose_model_path

    try:
        outcome = fetch_model(dest, target=pose_model_path(), log=lambda line: click.echo(line, err=True))
    except ModelError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    how = "already present" if outcome.source is None else f"fetched from {outcome.source}"
    click.echo(f"{outcome.path}: {how}, sha256 verified")
