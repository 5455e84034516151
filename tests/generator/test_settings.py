"""One rule per worker setting: the generator refuses, with the worker's own message, every value the
worker would refuse. (The schema may be stricter still, e.g. prefixes end in / for least-privilege ARNs.)"""
from pathlib import Path

import pytest

from generator import settings
from generator.errors import ValuesError
from generator.render import render
from generator.values import SetFlag, load_values
from worker.config import SETTING_NAMES, setting_problem

# Worker variable -> (how to set it, probes). Each probe is tried through the generator and
# through the worker's own check; both must agree.
PROBES = {
    "AWS_REGION": ("aws.region", ["us-east-2", "eu-west-1", " "]),
    "S3_COACH_VIDEOS_BUCKET": ("shared.videos_bucket", ["videos-bucket", "ab", "Bad_Bucket", "x" * 64]),
    "S3_UPLOADS_PREFIX": ("storage.uploads_prefix", ["in/", "/in/", "a/b/", "in"]),
    "S3_RESULTS_PREFIX": ("storage.results_prefix", ["out/", "/out/"]),
    "WORKER_VISIBILITY_TIMEOUT_SECONDS": ("worker.visibility_extension_seconds", [0, 1, 2, 3, 120, 43200, 43201]),
    "WORKER_POLL_WAIT_SECONDS": ("queue.receive_wait_seconds", [0, 20, 21]),
    "WORKER_MAX_VIDEO_BYTES": ("worker.max_video_bytes", [0, 1, 524288000]),
    "WORKER_MAX_VIDEO_SECONDS": ("worker.max_video_seconds", [0, 1, 300]),
    "WORKER_MAX_ANALYSIS_FPS": ("worker.max_analysis_fps", [0, 9, 10, 60, 240, 241]),
    "LOG_LEVEL": ("worker.log_level", ["DEBUG", "ERROR", "CRITICAL", "LOUD"]),
    "METRICS_NAMESPACE": ("metrics.namespace", ["Cricksy/Video", ":abc", "AWS/Custom", "With space", "x" * 256]),
    "WORKER_STOP_TIMEOUT_SECONDS": ("worker.stop_timeout_seconds", [2, 10, 120]),
    "METRICS_SERVICE": ("project", ["cricksy-ai", "c1"]),
}


def generator_problems(root: Path, key: str, value) -> list[str]:
    flag = SetFlag(f"{key}={value}", as_string=isinstance(value, str))
    try:
        load_values(root, "dev", sets=[flag])
    except ValuesError as err:
        return [p.message for p in err.problems if p.path[: len(key.split("."))] == tuple(key.split("."))]
    return []


def test_every_rendered_worker_setting_is_probed():
    checked = set(settings.FROM_VALUES) | set(settings.COMPUTED)
    assert checked - settings.RUNTIME_ONLY - {"METRICS_ENVIRONMENT"} == set(PROBES)
    assert checked <= set(SETTING_NAMES)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_whatever_the_worker_refuses_the_generator_refuses(root: Path, name: str):
    """Where the schema lets a value through, the worker's rule decides, in the worker's words."""
    key, probes = PROBES[name]
    rendered_any = False
    for value in probes:
        found = generator_problems(root, key, value)
        if name in settings.COMPUTED:
            if found:
                continue
            rendered = settings.rendered(settings.COMPUTED[name][1](load_values(root, "dev").data, "dev"))
        else:
            rendered = settings.rendered(value)
        refusal = setting_problem(name, rendered)
        if refusal:
            assert found, (name, value, "renders, but the worker refuses it")
            if not any("is not allowed" in message for message in found):  # the schema let it through
                assert any(refusal in message for message in found), (name, value, found)
        rendered_any = rendered_any or not found
    assert rendered_any, f"{name}: probe at least one value that renders"


def test_namespace_the_worker_refuses_does_not_render(root: Path):
    with pytest.raises(ValuesError) as err:
        load_values(root, "dev", sets=[SetFlag("metrics.namespace=:abc", as_string=True)])
    assert str(err.value) == ("--set-string metrics.namespace=:abc: metrics.namespace: ':abc' would be refused by the "
                              "worker as METRICS_NAMESPACE: ':abc' is not a CloudWatch namespace; expected a CloudWatch "
                              "namespace: up to 255 of A-Z a-z 0-9 . - _ / # : and spaces, not starting with AWS/ "
                              "(default Cricksy/VideoAnalysis)")


def test_extra_worker_variables_are_checked_by_the_worker_too(root: Path):
    with pytest.raises(ValuesError) as err:
        load_values(root, "dev", sets=[SetFlag("worker.environment.WORKER_LIVENESS_SECONDS=soon", as_string=True)])
    assert "worker.environment.WORKER_LIVENESS_SECONDS: 'soon' would be refused by the worker" in str(err.value)
    load_values(root, "dev", sets=[SetFlag("worker.environment.WORKER_LIVENESS_SECONDS=90", as_string=True)])


def test_the_template_renders_exactly_the_checked_contract(root: Path):
    import json

    values = load_values(root, "staging")
    module = render(root, values)
    container = json.loads(module.files["ecs.tf.json"])["locals"]["worker_container_definitions"][0]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    for name, value in settings.contract(values.data, "staging").items():
        assert environment[name] == settings.rendered(value), name
