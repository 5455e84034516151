"""The worker's settings as the stack renders them, checked by the worker's own rules.

The task definition sets the worker's environment variables from values. Each
one is checked here with `worker.config.setting_problem`, the function the
worker itself runs at start-up, so a value the worker would refuse can never
render: there is one rule per setting and it lives in worker/config.py.
Importing worker.config pulls in no AWS SDK and no database driver.
"""
from __future__ import annotations

from typing import Any, Callable

from generator.derived import worker_stop_seconds

KeyPath = tuple[str, ...]
Finding = tuple[KeyPath, str]

# Worker variable -> the value it is rendered from.
FROM_VALUES: dict[str, KeyPath] = {
    "AWS_REGION": ("aws", "region"),
    "S3_COACH_VIDEOS_BUCKET": ("shared", "videos_bucket"),
    "S3_UPLOADS_PREFIX": ("storage", "uploads_prefix"),
    "S3_RESULTS_PREFIX": ("storage", "results_prefix"),
    "WORKER_VISIBILITY_TIMEOUT_SECONDS": ("worker", "visibility_extension_seconds"),
    "WORKER_POLL_WAIT_SECONDS": ("queue", "receive_wait_seconds"),
    "WORKER_MAX_VIDEO_BYTES": ("worker", "max_video_bytes"),
    "WORKER_MAX_VIDEO_SECONDS": ("worker", "max_video_seconds"),
    "WORKER_MAX_ANALYSIS_FPS": ("worker", "max_analysis_fps"),
    "WORKER_TMP_DIR": ("image", "scratch_path"),
    "LOG_LEVEL": ("worker", "log_level"),
    "METRICS_NAMESPACE": ("metrics", "namespace"),
}
# Computed settings: variable -> (the value a person changes, how it is computed).
COMPUTED: dict[str, tuple[KeyPath, Callable[[dict[str, Any], str], Any]]] = {
    "WORKER_STOP_TIMEOUT_SECONDS": (("worker", "stop_timeout_seconds"), lambda v, _: worker_stop_seconds(v)),
    "METRICS_ENVIRONMENT": ((), lambda _, env: env),
    "METRICS_SERVICE": (("project",), lambda v, env: service_name(v, env)),
}
# Set by the template from Terraform references, never from values.
TEMPLATE_SET = {"SQS_VIDEO_ANALYSIS_QUEUE_URL", "METRICS_SERVICE"}
# Checked only where the task runs: the scratch folder is a volume ECS mounts at start.
RUNTIME_ONLY = {"WORKER_TMP_DIR"}


def service_name(values: dict[str, Any], env: str) -> str:
    return f"{values['project']}-worker-service-{env}"


def contract(values: dict[str, Any], env: str) -> dict[str, Any]:
    """The container environment that the template renders (besides references and extras)."""
    out: dict[str, Any] = {name: _get(values, path) for name, path in FROM_VALUES.items()}
    out["WORKER_STOP_TIMEOUT_SECONDS"] = worker_stop_seconds(values)
    scratch = values["image"]["scratch_path"]
    out.update(TMPDIR=scratch, MPLCONFIGDIR=f"{scratch}/matplotlib", POSE_MODEL_PATH=values["image"]["model_path"],
               METRICS_ENVIRONMENT=env)
    return out


def _get(values: dict[str, Any], path: KeyPath) -> Any:
    node: Any = values
    for key in path:
        node = node[key]
    return node


def rendered(value: Any) -> str:
    """The text a value becomes in the task definition (the template's `| string`)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def reads() -> tuple[KeyPath, ...]:
    return tuple(FROM_VALUES.values()) + tuple(path for path, _ in COMPUTED.values() if path) \
        + (("image", "scratch_path"), ("image", "model_path"), ("worker", "environment"), ("shared", "secrets"))


def check(values: dict[str, Any], env: str, ready: Callable[[tuple[KeyPath, ...]], bool]) -> list[Finding]:
    """Every rendered worker setting the worker would refuse, at the key that sets it."""
    if not ready(reads()):
        return []
    from worker.config import SETTING_NAMES, setting_problem

    candidates: list[tuple[str, KeyPath, Any]] = [
        (name, path, _get(values, path)) for name, path in FROM_VALUES.items() if name not in RUNTIME_ONLY]
    candidates += [(name, path, compute(values, env)) for name, (path, compute) in COMPUTED.items()]
    reserved = set(contract(values, env)) | set(values["shared"]["secrets"]) | TEMPLATE_SET
    candidates += [(name, ("worker", "environment", name), value)
                   for name, value in values["worker"]["environment"].items()
                   if name in SETTING_NAMES and name not in reserved]  # the template refuses reserved names
    findings: list[Finding] = []
    for name, path, value in candidates:
        problem = setting_problem(name, rendered(value))
        if problem:
            findings.append((path, f"{rendered(value)!r} would be refused by the worker as {name}: {problem}"))
    return findings
