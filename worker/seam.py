"""The WORKER_ANALYZER seam: the only way the service reaches an analysis.

An analyzer is `analyze(video_path, out_dir, *, max_seconds, progress,
model_path, options, processes) -> dict` (the analysis contract, README); `options` is
the job's validated options document (`JobOptions.to_document()`: activity,
handedness, view, subject, max_fps as applied), so an analyzer needs no
import of the service to read it; `processes` is WORKER_ANALYSIS_PROCESSES as
the worker validated it at start-up (None: the analyzer decides, from the
task's CPUs). It may carry a
`check(options)` attribute that raises, with a one-line message, when what it
needs (a model file) is missing; `cricksy-worker health` asks it instead of
knowing analyzers by name.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from worker.errors import ConfigError, describe

if TYPE_CHECKING:
    from worker.config import Settings

Analyzer = Callable[..., dict]


def load_analyzer(spec: str) -> Analyzer:
    """Import `module:function`; a bad value is a configuration error, found at start-up."""
    module_name, _, name = spec.partition(":")
    try:
        analyzer = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError([f"WORKER_ANALYZER: cannot load {spec!r} ({describe(exc)}); "
                           "expected module:function of an importable analysis entry point"]) from exc
    if not callable(analyzer):
        raise ConfigError([f"WORKER_ANALYZER: {spec!r} is not a function"])
    return analyzer


def analysis_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments every analysis gets from the worker's configuration."""
    return {"max_seconds": settings.max_video_seconds, "model_path": settings.pose_model_path,
            "processes": settings.analysis_processes}


def check_analyzer(analyzer: Analyzer, settings: Settings) -> None:
    """Ask the analyzer whether it can run here; raises whatever its `check` raises."""
    check = getattr(analyzer, "check", None)
    if check is not None:
        check(analysis_options(settings))
