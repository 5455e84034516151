"""Every validation rule fails with a message that names the source, key, value and what is allowed."""
from pathlib import Path

import pytest

from generator.errors import ValuesError
from generator.values import SetFlag, load_values


def problems(root: Path, env: str = "prod", *sets: str) -> list[str]:
    with pytest.raises(ValuesError) as err:
        load_values(root, env, sets=[SetFlag(s) for s in sets])
    return [str(p) for p in err.value.problems]


def test_committed_environments_are_valid(root: Path):
    for env in ("dev", "staging", "prod"):
        load_values(root, env)


@pytest.mark.parametrize("sets, expected", [
    # Fargate CPU/memory table
    (["worker.cpu=1000"], "worker.cpu: 1000 is not a Fargate CPU size; allowed: 256, 512, 1024"),
    (["worker.cpu=1024", "worker.memory=1024"],
     "worker.memory: 1024 MiB is not allowed with cpu 1024 on Fargate; allowed: 2048 to 8192 in steps of 1024 MiB"),
    (["worker.cpu=256", "worker.memory=1536"], "allowed: 512, 1024, 2048 MiB"),
    (["worker.cpu=8192", "worker.memory=17408"], "allowed: 16384 to 61440 in steps of 4096 MiB"),
    # SQS limits
    (["queue.message_retention_seconds=30"], "queue.message_retention_seconds: 30 is outside the SQS limit of 60 to 1209600"),
    (["queue.dlq_retention_seconds=1209601"], "queue.dlq_retention_seconds: 1209601 is outside the SQS limit of 60 to 1209600"),
    (["queue.receive_wait_seconds=21"], "queue.receive_wait_seconds: 21 is outside the SQS limit of 0 to 20"),
    (["queue.delay_seconds=901"], "queue.delay_seconds: 901 is outside the SQS limit of 0 to 900"),
    (["queue.max_receive_count=0"], "queue.max_receive_count: 0 is outside the SQS limit of 1 to 1000"),
    (["queue.max_receive_count=1001"], "queue.max_receive_count: 1001 is outside the SQS limit of 1 to 1000"),
    (["queue.dlq_retention_seconds=86400"], "queue.dlq_retention_seconds: 86400 is shorter than queue.message_retention_seconds"),
    (["worker.max_job_seconds=43100"],
     "worker.max_job_seconds: max_job_seconds + stop_timeout_seconds = 43220 s exceeds the SQS visibility timeout limit of 43200 s"),
    (["worker.visibility_extension_seconds=0"], "worker.visibility_extension_seconds: 0 is outside the SQS visibility timeout limit of 1 to 43200"),
    # CloudWatch retention values
    (["logs.retention_days=31"], "logs.retention_days: 31 is not a CloudWatch Logs retention; allowed: 0, 1, 3, 5, 7, 14, 30, 60"),
    # desired count within the autoscaling bounds
    (["worker.desired_count=21"], "worker.desired_count: 21 is outside the autoscaling bounds (min_count 2 to max_count 20)"),
    (["worker.desired_count=1"], "worker.desired_count: 1 is outside the autoscaling bounds (min_count 2 to max_count 20)"),
    (["autoscaling.min_count=30"], "autoscaling.min_count: 30 is greater than autoscaling.max_count (20)"),
    (["autoscaling.mean_job_seconds=900"], "autoscaling.mean_job_seconds: 900 s is longer than acceptable_latency_seconds (300 s)"),
    # alarms consistent with retention and scaling
    (["alarms.oldest_message_age_seconds=400000"],
     "alarms.oldest_message_age_seconds: 400000 s is not below queue.message_retention_seconds (345600 s)"),
    (["alarms.oldest_message_age_seconds=120"],
     "alarms.oldest_message_age_seconds: 120 s is below autoscaling.acceptable_latency_seconds (300 s)"),
    (["worker.stop_timeout_seconds=121"], "worker.stop_timeout_seconds: 121 is outside the Fargate stopTimeout limit of 2 to 120"),
    # ECS health check limits
    (["worker.health_check.interval_seconds=301"],
     "worker.health_check.interval_seconds: 301 is outside the ECS health check limit of 5 to 300"),
    (["worker.health_check.retries=11"], "worker.health_check.retries: 11 is outside the ECS health check limit of 1 to 10"),
    (["worker.health_check.start_period_seconds=301"],
     "worker.health_check.start_period_seconds: 301 is outside the ECS health check limit of 0 to 300"),
    (["worker.health_check.timeout_seconds=30"],
     "worker.health_check.timeout_seconds: 30 s is not shorter than interval_seconds (30 s)"),
    # the queue-wait alarm against scaling and retention
    (["alarms.queue_wait_p90_seconds=200"],
     "alarms.queue_wait_p90_seconds: 200 s is below autoscaling.acceptable_latency_seconds (300 s)"),
    (["alarms.queue_wait_p90_seconds=345600"],
     "alarms.queue_wait_p90_seconds: 345600 s is not below queue.message_retention_seconds (345600 s)"),
])
def test_domain_rule(root: Path, sets: list[str], expected: str):
    found = problems(root, "prod", *sets)
    assert any(expected in p for p in found), found
    assert all(p.startswith("--set ") or p.startswith("environments/") for p in found)


@pytest.mark.parametrize("sets, expected", [
    (["worker.memroy=4096"], "--set worker.memroy=4096: worker.memroy: unknown key 'memroy' (allowed here: capacity_providers, cpu"),
    (["worker.cpu=big"], '--set worker.cpu=big: worker.cpu: "big" is not allowed: expected integer (Fargate CPU units)'),
    (["worker.log_level=LOUD"], 'worker.log_level: "LOUD" is not allowed: expected one of "DEBUG", "INFO", "WARNING", "ERROR"'),
    (["shared.subnet_ids=[subnet-xyz]"], 'shared.subnet_ids[0]: "subnet-xyz" is not allowed: expected text matching ^subnet-[0-9a-f]{8,17}$'),
    (["shared.subnet_ids=[]"], "shared.subnet_ids: a list is not allowed: expected at least 1 item(s)"),
    (["metrics.namespace=AWS/Custom"], 'metrics.namespace: "AWS/Custom" is not allowed: this value is not allowed here'),
    (["alarms.failure_rate_percent=0"], "alarms.failure_rate_percent: 0 is not allowed: expected more than 0"),
    (["image.tag=latest"], 'image.tag: "latest" is not allowed: this value is not allowed here (immutable image tag)'),
    (["image.user=root"], 'image.user: "root" is not allowed: expected text matching'),
    (["tags.aws:owner=me"], "--set tags.aws:owner=me: tags.aws:owner: key 'aws:owner' is not allowed: expected text matching ^(?!aws:)"),
    (["shared.secrets.db=x"], "shared.secrets.db: key 'db' is not allowed: expected text matching ^[A-Z][A-Z0-9_]*$ (an environment variable name in capitals)"),
    (["worker.capacity_providers=[{name: EC2, weight: 1, base: 0}]"],
     'worker.capacity_providers[0].name: "EC2" is not allowed: expected one of "FARGATE", "FARGATE_SPOT"'),
])
def test_schema_rule(root: Path, sets: list[str], expected: str):
    found = problems(root, "prod", *sets)
    assert any(expected in p for p in found), found


def test_typo_in_a_file_names_file_and_line(root: Path):
    path = root / "environments" / "staging.yaml"
    path.write_text(path.read_text() + "worker_typo:\n  cpu: 1\n")
    line = path.read_text().splitlines().index("worker_typo:") + 1
    found = problems(root, "staging")
    assert found == [f"environments/staging.yaml:{line}: worker_typo: unknown key 'worker_typo' "
                     "(allowed here: alarms, autoscaling, aws, image, logs, metrics, project, queue, shared, storage, "
                     "tags, terraform, worker)"]


def test_missing_required_key_is_reported(root: Path):
    path = root / "environments" / "defaults.yaml"
    path.write_text(path.read_text().replace("  max_job_seconds: 900\n", ""))
    found = problems(root, "prod")
    assert any("worker: 'max_job_seconds' is a required property" in p for p in found), found


def test_all_errors_are_reported_at_once(root: Path):
    found = problems(root, "prod", "worker.cpu=1000", "logs.retention_days=31", "queue.delay_seconds=901",
                     "worker.memroy=1", "worker.log_level=LOUD")
    assert len(found) == 5, found


def test_duplicate_key_is_an_error_with_its_line(root: Path):
    path = root / "environments" / "dev.yaml"
    path.write_text("worker:\n  cpu: 512\n  cpu: 1024\n" + path.read_text().replace("worker:\n", "worker_unused:\n", 1))
    found = problems(root, "dev")
    assert len(found) == 1
    assert found[0].startswith("environments/dev.yaml:3: ")
    assert 'duplicate key "cpu"' in found[0]


def test_duplicate_key_in_extra_values_file(root: Path, tmp_path: Path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("queue:\n  max_receive_count: 2\nqueue:\n  delay_seconds: 1\n")
    with pytest.raises(ValuesError) as err:
        load_values(root, "dev", [extra])
    assert str(err.value).startswith(f"{extra}:3: ")


@pytest.mark.parametrize("text, expected", [
    ("- a\n- b\n", "the top level must be a map of keys, got a list"),
    ("worker: [1\n", "expected ',' or ']'"),
    ("worker:\n  1: x\n", "key 1 must be a string (quote it)"),
    ("worker:\n  when: 2020-01-01\n", "unsupported YAML value"),
])
def test_unreadable_values_file(root: Path, tmp_path: Path, text: str, expected: str):
    extra = tmp_path / "bad.yaml"
    extra.write_text(text)
    with pytest.raises(ValuesError) as err:
        load_values(root, "dev", [extra])
    assert str(extra) in str(err.value) and expected in str(err.value)


def test_missing_values_file(root: Path, tmp_path: Path):
    with pytest.raises(ValuesError) as err:
        load_values(root, "dev", [tmp_path / "nope.yaml"])
    assert str(err.value) == f"{tmp_path / 'nope.yaml'}: values file not found"


def test_unknown_environment_lists_known_ones(root: Path):
    with pytest.raises(ValuesError) as err:
        load_values(root, "qa")
    assert "unknown environment 'qa'; found: dev, prod, staging" in str(err.value)


def test_a_broken_rule_fails_loudly_instead_of_switching_itself_off(root: Path, monkeypatch):
    """A rule runs only when the schema found its inputs well formed, so a KeyError in it is a bug."""
    from generator import rules

    def broken(values):
        yield ("worker", "cpu"), f"{values['worker']['no_such_key']}"

    monkeypatch.setattr(rules, "RULES", rules.RULES + [(broken, (("worker", "cpu"),))])
    with pytest.raises(KeyError):
        load_values(root, "prod")


def test_a_rule_waits_for_its_inputs_to_be_well_formed(root: Path):
    found = problems(root, "prod", "worker.cpu=big", "logs.retention_days=31")
    assert any('worker.cpu: "big" is not allowed: expected integer' in p for p in found), found
    assert any("logs.retention_days: 31 is not a CloudWatch Logs retention" in p for p in found), found
    assert not any("is not a Fargate CPU size" in p for p in found), found
