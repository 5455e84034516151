"""Configuration: one error naming every problem, sane defaults, database URLs, no leaked passwords."""
from __future__ import annotations

import tempfile

import pytest

from tests.worker.harness import run_cli
from worker.config import ConfigError, load_settings

VALID = {
    "DATABASE_URL": "postgresql://cricksy:s3cret-pw@db.internal:5432/cricksy",
    "SQS_VIDEO_ANALYSIS_QUEUE_URL": "https://sqs.us-east-2.amazonaws.com/123456789012/cricksy-video-analysis-prod",
    "S3_COACH_VIDEOS_BUCKET": "cricksy-coach-videos",
    "AWS_REGION": "us-east-2",
}


def problems(env: dict[str, str], **kwargs: bool) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env, **kwargs)
    return {line.split(":", 1)[0]: line for line in caught.value.problems}


def test_every_missing_and_malformed_variable_is_reported_at_once() -> None:
    found = problems({
        "WORKER_VISIBILITY_TIMEOUT_SECONDS": "ten",
        "WORKER_MAX_VIDEO_BYTES": "0",
        "WORKER_MAX_VIDEO_SECONDS": "-3",
        "WORKER_POLL_WAIT_SECONDS": "21",
        "WORKER_STOP_TIMEOUT_SECONDS": "nan",
        "WORKER_TMP_DIR": "/does/not/exist",
        "LOG_LEVEL": "chatty",
        "WORKER_ANALYZER": "no-colon-here",
        "S3_UPLOADS_PREFIX": "/uploads/",
    })
    assert set(found) == {
        "DATABASE_URL", "SQS_VIDEO_ANALYSIS_QUEUE_URL", "S3_COACH_VIDEOS_BUCKET", "AWS_REGION",
        "WORKER_VISIBILITY_TIMEOUT_SECONDS", "WORKER_MAX_VIDEO_BYTES", "WORKER_MAX_VIDEO_SECONDS",
        "WORKER_POLL_WAIT_SECONDS", "WORKER_STOP_TIMEOUT_SECONDS", "WORKER_TMP_DIR", "LOG_LEVEL",
        "WORKER_ANALYZER", "S3_UPLOADS_PREFIX",
    }
    assert "missing; expected postgresql://" in found["DATABASE_URL"]
    assert "'ten' is not a whole number; expected whole seconds from 3 to 43200" in found[
        "WORKER_VISIBILITY_TIMEOUT_SECONDS"]
    assert "21 is out of range; expected whole seconds from 0 to 20" in found["WORKER_POLL_WAIT_SECONDS"]
    assert "'/does/not/exist' is not an existing directory" in found["WORKER_TMP_DIR"]
    assert "expected one of DEBUG, INFO" in found["LOG_LEVEL"]
    assert "not of the form module:function" in found["WORKER_ANALYZER"]


def test_defaults_apply_when_only_the_required_variables_are_set() -> None:
    settings = load_settings(VALID)
    assert (settings.visibility_timeout, settings.max_video_bytes, settings.max_video_seconds) == (
        120, 500 * 1024 * 1024, 300.0)
    assert (settings.poll_wait_seconds, settings.stop_timeout_seconds, settings.log_level) == (20, 110.0, "INFO")
    assert (settings.uploads_prefix, settings.results_prefix) == ("uploads/", "results/")
    assert settings.analyzer == "worker.analysis:analyze"
    assert settings.tmp_dir == tempfile.gettempdir()
    assert settings.ecs_agent_uri is None


def test_tunables_are_parsed() -> None:
    settings = load_settings({**VALID, "WORKER_VISIBILITY_TIMEOUT_SECONDS": "45", "WORKER_STOP_TIMEOUT_SECONDS": "0",
                              "LOG_LEVEL": "debug", "S3_RESULTS_PREFIX": "",
                              "ECS_AGENT_URI": "http://169.254.170.2/api/x/"})
    assert (settings.visibility_timeout, settings.stop_timeout_seconds, settings.log_level) == (45, 0.0, "DEBUG")
    assert settings.results_prefix == ""
    assert settings.ecs_agent_uri == "http://169.254.170.2/api/x"


@pytest.mark.parametrize("given, expected", [
    ("postgresql://cricksy:pw@db:5432/cricksy", "postgresql+psycopg://cricksy:pw@db:5432/cricksy"),
    ("postgres://cricksy:pw@db/cricksy", "postgresql+psycopg://cricksy:pw@db/cricksy"),
    ("postgresql+psycopg://db/cricksy?sslmode=require", "postgresql+psycopg://db/cricksy?sslmode=require"),
    ("sqlite:////var/lib/cricksy/jobs.db", "sqlite:////var/lib/cricksy/jobs.db"),
])
def test_database_urls_are_normalised_to_psycopg(given: str, expected: str) -> None:
    assert load_settings({"DATABASE_URL": given}, aws=False).database_url == expected


@pytest.mark.parametrize("url, complaint", [
    ("mysql://root:hunter2@db/cricksy", "has scheme 'mysql'"),
    ("postgresql+psycopg2://root:hunter2@db/cricksy", "uses driver 'psycopg2'"),
    ("not a url hunter2", "is not a database URL"),
    ("sqlite://", "is sqlite without a database file"),
])
def test_bad_database_urls_are_named_without_their_password(url: str, complaint: str) -> None:
    found = problems({"DATABASE_URL": url}, aws=False)
    assert complaint in found["DATABASE_URL"]
    assert "hunter2" not in found["DATABASE_URL"]


def test_the_password_stays_out_of_repr_and_redacted_url() -> None:
    settings = load_settings(VALID)
    assert "s3cret-pw" not in repr(settings)
    assert settings.database_url_redacted == "postgresql+psycopg://cricksy:***@db.internal:5432/cricksy"


def test_database_only_commands_need_only_the_database() -> None:
    settings = load_settings({"DATABASE_URL": "sqlite:////tmp/x.db"}, aws=False)
    assert settings.queue_url is None and settings.bucket is None
    assert set(problems({}, aws=False)) == {"DATABASE_URL"}


def test_the_cli_prints_the_whole_list_and_exits_2() -> None:
    result = run_cli("run", env={"PATH": "/usr/bin:/bin", "WORKER_POLL_WAIT_SECONDS": "-1",
                                 "DATABASE_URL": "mysql://u:hunter2@h/db"})
    assert result.returncode == 2
    assert result.stdout == ""
    assert "invalid worker configuration (5 problems)" in result.stderr
    for name in ("DATABASE_URL", "SQS_VIDEO_ANALYSIS_QUEUE_URL", "S3_COACH_VIDEOS_BUCKET", "AWS_REGION",
                 "WORKER_POLL_WAIT_SECONDS"):
        assert f"  {name}: " in result.stderr
    assert "hunter2" not in result.stderr


def test_metrics_and_liveness_settings_have_defaults_and_are_validated() -> None:
    settings = load_settings(VALID)
    assert (settings.metrics_namespace, settings.metrics_environment, settings.metrics_service) == (
        "Cricksy/VideoAnalysis", "local", "cricksy-worker")
    assert settings.liveness_seconds is None
    settings = load_settings({**VALID, "METRICS_NAMESPACE": "Cricksy/Video Analysis#2", "METRICS_ENVIRONMENT": "prod",
                              "METRICS_SERVICE": " cricksy-ai-worker-service ", "WORKER_LIVENESS_SECONDS": "75"})
    assert (settings.metrics_namespace, settings.metrics_environment, settings.metrics_service) == (
        "Cricksy/Video Analysis#2", "prod", "cricksy-ai-worker-service")
    assert settings.liveness_seconds == 75.0

    found = problems({**VALID, "METRICS_NAMESPACE": "AWS/ECS", "METRICS_ENVIRONMENT": ":prod",
                      "METRICS_SERVICE": "caf\u00e9", "WORKER_LIVENESS_SECONDS": "0"})
    assert set(found) == {"METRICS_NAMESPACE", "METRICS_ENVIRONMENT", "METRICS_SERVICE", "WORKER_LIVENESS_SECONDS"}
    assert "'AWS/ECS' starts with AWS/, which CloudWatch reserves" in found["METRICS_NAMESPACE"]
    assert "':prod' is not a CloudWatch dimension value" in found["METRICS_ENVIRONMENT"]
    assert "0 is out of range" in found["WORKER_LIVENESS_SECONDS"]
    assert "not a CloudWatch namespace" in problems({**VALID, "METRICS_NAMESPACE": "x" * 256})["METRICS_NAMESPACE"]
    assert "not a CloudWatch namespace" in problems({**VALID, "METRICS_NAMESPACE": "a\tb"})["METRICS_NAMESPACE"]
