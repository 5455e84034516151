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


def test_dashboard_and_alarms_read_metrics_the_worker_writes(env: str):
    """Every job metric the stack charts or alarms on, with its dimensions, is one worker.emf emits."""
    from worker import emf
    from worker.errors import InvalidVideoError

    docs = module(env)
    local_values = merged(docs, "locals")
    container = local_values["worker_container_definitions"][0]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    substitutions = {"${local.env}": env, "${local.service_name}": local_values["service_name"],
                     "${local.metrics_namespace}": local_values["metrics_namespace"]}
    resolve = lambda text: substitutions.get(text, text)  # noqa: E731
    context = emf.Context(namespace=environment["METRICS_NAMESPACE"], environment=environment["METRICS_ENVIRONMENT"],
                          service=resolve(environment["METRICS_SERVICE"]))
    emitted = set()
    for doc in (emf.job_completed(context, job_seconds=1, queue_wait_seconds=1, frames_analyzed=1,
                                  analysis_seconds=1, video_seconds=1),
                emf.job_failed(context, InvalidVideoError.error_class), emf.job_retried(context)):
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]:
            for dimension_set in directive["Dimensions"]:
                emitted.add((directive["Namespace"], metric["Name"],
                             frozenset((name, doc[name]) for name in dimension_set)))

    referenced = set()
    alarms = merged(docs, "resource")["aws_cloudwatch_metric_alarm"]
    for alarm in alarms.values():
        stats = [q["metric"][0] for q in alarm.get("metric_query", []) if "metric" in q] or [alarm]
        for stat in stats:
            namespace = resolve(stat["namespace"])
            if namespace == context.namespace:
                referenced.add((namespace, stat["metric_name"],
                                frozenset((k, resolve(v)) for k, v in stat["dimensions"].items())))
    for widget in local_values["dashboard"]["widgets"]:
        for line in widget["properties"]["metrics"]:
            if isinstance(line[0], str) and resolve(line[0]) == context.namespace:
                pairs = [resolve(item) for item in line[2:] if isinstance(item, str)]
                referenced.add((context.namespace, line[1], frozenset(zip(pairs[::2], pairs[1::2]))))
    assert len(referenced) >= 5
    assert referenced <= emitted, sorted(map(str, referenced - emitted))


def _steps_to_reach_max(steps: list[dict], start: int, most: int, backlog: int) -> int:
    """Scale-out evaluations until max_count, for a backlog that does not drain meanwhile (threshold 1)."""
    running, count = start, 0
    while running < most:
        over = backlog - 1
        step = next(s for s in steps if s["metric_interval_lower_bound"] <= over
                    and over < s.get("metric_interval_upper_bound", float("inf")))
        running, count = min(most, running + step["scaling_adjustment"]), count + 1
        assert count < 50
    return count


def test_a_large_backlog_reaches_max_count_in_one_or_two_steps(env: str):
    resources = merged(module(env), "resource")
    most = resources["aws_appautoscaling_target"]["worker"]["max_capacity"]
    start = resources["aws_appautoscaling_target"]["worker"]["min_capacity"]
    (config,) = resources["aws_appautoscaling_policy"]["scale_out"]["step_scaling_policy_configuration"]
    steps = config["step_adjustment"]
    per_task = steps[0]["metric_interval_upper_bound"]
    assert _steps_to_reach_max(steps, start, most, backlog=most * per_task + 1) == 1
    for backlog in range(per_task + 1, most * per_task + 1, max(1, per_task // 2)):
        assert _steps_to_reach_max(steps, start, most, backlog) <= 2, backlog


def test_scale_in_requires_nothing_waiting_and_nothing_in_flight(env: str):
    idle = merged(module(env), "resource")["aws_cloudwatch_metric_alarm"]["queue_idle"]
    queries = {q["id"]: q for q in idle["metric_query"]}
    assert queries["jobs"]["expression"] == "visible + in_flight" and queries["jobs"]["return_data"] is True
    assert queries["in_flight"]["metric"][0]["metric_name"] == "ApproximateNumberOfMessagesNotVisible"
    assert queries["visible"]["metric"][0]["metric_name"] == "ApproximateNumberOfMessagesVisible"
    assert (idle["comparison_operator"], idle["threshold"]) == ("LessThanOrEqualToThreshold", 0)


def test_every_alarm_notifies_the_topic_and_service_events_do_too(env: str):
    docs = module(env)
    resources = merged(docs, "resource")
    for name, alarm in resources["aws_cloudwatch_metric_alarm"].items():
        if name not in ("messages_waiting", "queue_idle"):
            assert alarm["alarm_actions"] == alarm["ok_actions"] == "${local.alarm_actions}", name
    assert merged(docs, "locals")["alarm_actions"][0] == "${aws_sns_topic.alarms.arn}"
    assert resources["aws_sns_topic"]["alarms"]["kms_master_key_id"] == "${aws_kms_key.alarms.arn}"
    assert resources["aws_kms_key"]["alarms"]["enable_key_rotation"] is True
    target = resources["aws_cloudwatch_event_target"]["service_cannot_start_tasks"]
    assert target["arn"] == "${aws_sns_topic.alarms.arn}"
    pattern = merged(docs, "locals")["service_events_pattern"]
    assert pattern["resources"] == ["${aws_ecs_service.worker.id}"]
    subscriptions = resources.get("aws_sns_topic_subscription", {})
    assert [(s["protocol"], s["endpoint"]) for s in subscriptions.values()] == [
        (s["protocol"], s["endpoint"]) for s in values(env)["alarms"]["subscriptions"]]


def test_the_videos_bucket_is_looked_up_and_producers_get_what_they_need(env: str):
    docs = module(env)
    assert merged(docs, "data")["aws_s3_bucket"]["videos"] == {"bucket": values(env)["shared"]["videos_bucket"]}
    task_policy = merged(docs, "locals")["task_policy"]
    assert {s["Resource"].split("/")[0] for s in task_policy["Statement"] if s["Action"] in ("s3:GetObject",
                                                                                                "s3:PutObject")} \
        == {"${data.aws_s3_bucket.videos.arn}"}
    outputs = merged(docs, "output")
    assert {"videos_bucket_name", "uploads_prefix", "results_prefix", "queue_arn", "database_secret_name",
            "alarm_topic_arn"} <= set(outputs)
