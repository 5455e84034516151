"""Proof 6: domain rules read off the rendered output, not only off the values."""
from generator.derived import DRAIN_MARGIN_SECONDS
from generator.rules import FARGATE_MEMORY, LOG_RETENTION_DAYS
from tests.infra.conftest import merged, module, values


def test_fargate_cpu_memory_pair(env: str):
    task = merged(module(env), "resource")["aws_ecs_task_definition"]["worker"]
    assert int(task["memory"]) in FARGATE_MEMORY[int(task["cpu"])]


def test_visibility_timeout_outlasts_the_longest_job(env: str):
    v = values(env)
    docs = module(env)
    queue = merged(docs, "resource")["aws_sqs_queue"]["jobs"]
    assert queue["visibility_timeout_seconds"] > v["worker"]["max_job_seconds"]
    assert queue["visibility_timeout_seconds"] <= 43200
    redrive = merged(docs, "locals")["redrive_policy"]
    assert redrive == {"deadLetterTargetArn": "${aws_sqs_queue.dead_letter.arn}",
                       "maxReceiveCount": v["queue"]["max_receive_count"]}
    assert queue["redrive_policy"] == "${jsonencode(local.redrive_policy)}"


def test_worker_gives_up_before_ecs_kills_it(env: str):
    container = merged(module(env), "locals")["worker_container_definitions"][0]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert int(environment["WORKER_STOP_TIMEOUT_SECONDS"]) == container["stopTimeout"] - DRAIN_MARGIN_SECONDS
    assert container["stopTimeout"] <= 120


def test_alarm_thresholds_fit_retention(env: str):
    resources = merged(module(env), "resource")
    age = resources["aws_cloudwatch_metric_alarm"]["oldest_message_age"]
    queue = resources["aws_sqs_queue"]
    assert age["threshold"] < queue["jobs"]["message_retention_seconds"]
    assert queue["dead_letter"]["message_retention_seconds"] >= queue["jobs"]["message_retention_seconds"]
    assert merged(module(env), "resource")["aws_cloudwatch_log_group"]["worker"]["retention_in_days"] \
        in LOG_RETENTION_DAYS


def test_desired_count_within_scaling_bounds(env: str):
    resources = merged(module(env), "resource")
    target = resources["aws_appautoscaling_target"]["worker"]
    desired = resources["aws_ecs_service"]["worker"]["desired_count"]
    assert target["min_capacity"] <= desired <= target["max_capacity"]
    assert resources["aws_ecs_service"]["worker"]["lifecycle"] == [{"ignore_changes": ["desired_count"]}]
