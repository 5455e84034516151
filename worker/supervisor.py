"""The analysis in a supervised child process that the worker can always kill.

A hung frame, a native crash, a leak or an analysis that ignores the stop
window must never hold the worker: the child runs the WORKER_ANALYZER and
sends its progress and its answer through a pipe; the parent watches the
stop window, the lease and the job time limit between messages, and kills
the child when the attempt must end. A child that dies without an answer is
reported as AnalysisCrashed, so the parent records the crash itself. The
child dies with its parent (a lifeline pipe), and ignores SIGTERM/SIGINT,
which are the parent's to act on.

Kept small and free of the service's imports on purpose: the analysis itself
runs its segment processes through it (worker/analysis/parallel.py), so
those die with the analysis process too.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from worker.errors import AnalysisCrashed, AnalysisTimeout, WorkerError
from worker.seam import load_analyzer

Progress = Callable[[int, "int | None"], None]
POLL_SECONDS = 0.2
_EXIT_ORPHANED = 70


class Supervised:
    """An analyzer, by its WORKER_ANALYZER spec, run in a fresh child process per call."""

    supervised = True

    def __init__(self, spec: str, start_method: str = "spawn", name: str = "cricksy-analysis"):
        self.spec, self.name = spec, name
        self.context = multiprocessing.get_context(start_method)
        self.check = getattr(load_analyzer(spec), "check", None)  # a bad spec fails at start-up, here

    def __call__(self, video_path: str | os.PathLike, out_dir: str | os.PathLike, *, progress: Progress,
                 watch: Callable[[], None] = lambda: None, timeout: float | None = None, **options: Any) -> dict:
        """Run the analysis; `watch` is called between messages and may raise to end it (the child is killed)."""
        answers, answer_end = self.context.Pipe(duplex=False)
        lifeline, lifeline_end = self.context.Pipe(duplex=False)
        # Not a daemon: the analysis may start its own processes (worker/analysis/parallel.py), which a
        # daemon may not; the lifeline and the `finally` below end it with its parent all the same.
        child = self.context.Process(target=_child, name=self.name, daemon=False,
                                     args=(self.spec, os.fspath(video_path), os.fspath(out_dir), options, answer_end,
                                           lifeline))
        child.start()
        answer_end.close()
        lifeline.close()
        started = time.monotonic()
        try:
            while True:
                watch()
                if timeout is not None and time.monotonic() - started > timeout:
                    raise AnalysisTimeout(f"the analysis ran longer than {timeout:g} s "
                                          "(WORKER_ANALYSIS_TIMEOUT_SECONDS) and was killed")
                if not answers.poll(POLL_SECONDS):
                    continue
                try:
                    kind, payload = answers.recv()
                except (EOFError, OSError):
                    raise AnalysisCrashed(_death(child)) from None
                if kind == "progress":
                    progress(*payload)
                elif kind == "result":
                    return payload
                else:
                    raise _rebuild(payload)
        finally:
            _end(child)
            answers.close()
            lifeline_end.close()


def _end(child: multiprocessing.process.BaseProcess) -> None:
    if child.is_alive():
        child.kill()
    child.join(5)


def _death(child: multiprocessing.process.BaseProcess) -> str:
    child.join(5)
    code = child.exitcode
    if code is not None and code < 0:
        how = f"killed by {signal.Signals(-code).name}"
    else:
        how = f"exit code {code}"
    return f"the analysis process died without an answer ({how}): a native crash or the out-of-memory killer"


def _rebuild(payload: dict[str, Any]) -> BaseException:
    """The child's exception, as its own class when that class can be built from a message."""
    try:
        kind = getattr(importlib.import_module(payload["module"]), payload["name"])
        if isinstance(kind, type) and issubclass(kind, Exception) and (
                issubclass(kind, WorkerError) or kind.__module__ == "builtins"):
            error = kind(payload["message"])
            error.__notes__ = [payload["traceback"]]
            return error
    except Exception:  # noqa: BLE001 - fall back to a plain description below
        pass
    return RuntimeError(f"{payload['name']}: {payload['message']}")


def _child(spec: str, video_path: str, out_dir: str, options: dict[str, Any], answers: Connection,
           lifeline: Connection) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)
    threading.Thread(target=_die_with_parent, args=(lifeline,), daemon=True).start()
    try:
        analyzer = load_analyzer(spec)
        result = analyzer(Path(video_path), Path(out_dir), progress=lambda done, total: answers.send(
            ("progress", (done, total))), **options)
        answers.send(("result", result))
    except BaseException as exc:  # everything goes back to the parent, which decides
        answers.send(("error", {"module": type(exc).__module__, "name": type(exc).__qualname__,
                                "message": str(exc), "traceback": traceback.format_exc()}))


def _die_with_parent(lifeline: Connection) -> None:
    try:
        lifeline.recv()
    except (EOFError, OSError):
        pass
    os._exit(_EXIT_ORPHANED)
