"""Proof 5: the rendered dev environment applies to a local moto server, and a second plan is empty.

Nothing is targeted out. moto differs from AWS in three answers that would make
every plan dirty; tests/support/moto_fixes.py corrects them in this process
(RedrivePolicy spacing, a service's capacity providers, scaling policies by name).
moto does not keep a service's deploymentConfiguration (circuit breaker), so that
setting is covered by validate and checkov, not here.
"""
import json

from tests.support.terraform import AppliedStack


def test_apply_succeeds_and_second_plan_is_empty(applied_dev_stack: AppliedStack):
    assert applied_dev_stack.apply_result.retcode == 0, applied_dev_stack.apply_result.error
    plan = applied_dev_stack.plan_result
    assert plan.retcode == 0, f"second plan is not empty (exit {plan.retcode}):\n{plan.value}\n{plan.error}"


def test_applied_queue_matches_values(applied_dev_stack: AppliedStack):
    stack, v = applied_dev_stack, applied_dev_stack.values
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.outputs["queue_url"], AttributeNames=["All"])["Attributes"]
    assert int(attributes["VisibilityTimeout"]) == v["worker"]["max_job_seconds"] + v["worker"]["stop_timeout_seconds"]
    assert int(attributes["ReceiveMessageWaitTimeSeconds"]) == 20
    assert attributes["KmsMasterKeyId"] == "alias/aws/sqs"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == v["queue"]["max_receive_count"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=stack.outputs["dead_letter_queue_url"],
                                       AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert redrive["deadLetterTargetArn"] == dlq_arn == stack.outputs["queue_arn"].replace(
        "cricksy-video-analysis-dev", "cricksy-video-analysis-dev-dlq")


def test_applied_task_definition_and_service(applied_dev_stack: AppliedStack):
    stack, v = applied_dev_stack, applied_dev_stack.values
    ecs = stack.client("ecs")
    task = ecs.describe_task_definition(taskDefinition=stack.outputs["task_definition_arn"])["taskDefinition"]
    assert (task["cpu"], task["memory"]) == (str(v["worker"]["cpu"]), str(v["worker"]["memory"]))
    assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
    assert task["executionRoleArn"] == stack.outputs["execution_role_arn"]
    assert task["taskRoleArn"] == stack.outputs["task_role_arn"]
    (container,) = task["containerDefinitions"]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert environment["SQS_VIDEO_ANALYSIS_QUEUE_URL"] == stack.outputs["queue_url"]
    secret = stack.client("secretsmanager").describe_secret(SecretId=v["shared"]["secrets"]["DATABASE_URL"])
    assert container["secrets"] == [{"name": "DATABASE_URL", "valueFrom": secret["ARN"]}]
    assert container["logConfiguration"]["options"]["awslogs-group"] == stack.outputs["log_group_name"]
    assert container["readonlyRootFilesystem"] is True and container["stopTimeout"] == 120
    cluster = v["shared"]["cluster_name"]
    (service,) = ecs.describe_services(cluster=cluster, services=[stack.outputs["service_name"]])["services"]
    assert service["desiredCount"] == v["worker"]["desired_count"]
    assert service["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    assert sorted(network["subnets"]) == sorted(v["shared"]["subnet_ids"]) and network["assignPublicIp"] == "DISABLED"


def test_applied_scaling_and_alarms(applied_dev_stack: AppliedStack):
    stack, v = applied_dev_stack, applied_dev_stack.values
    scaling = stack.client("application-autoscaling")
    resource_id = f"service/{v['shared']['cluster_name']}/{stack.outputs['service_name']}"
    (target,) = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource_id])["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 2)
    policies = {p["PolicyName"]: p for p in scaling.describe_scaling_policies(
        ServiceNamespace="ecs", ResourceId=resource_id)["ScalingPolicies"]}
    assert set(policies) == {"cricksy-ai-worker-scale-out-dev", "cricksy-ai-worker-scale-in-dev"}
    alarms = {a["AlarmName"]: a for a in stack.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    waiting = alarms["cricksy-ai-worker-messages-waiting-dev"]
    assert waiting["AlarmActions"] == [policies["cricksy-ai-worker-scale-out-dev"]["PolicyARN"]]
    assert alarms["cricksy-ai-worker-dead-letters-dev"]["Dimensions"] == [
        {"Name": "QueueName", "Value": "cricksy-video-analysis-dev-dlq"}]
    assert alarms["cricksy-ai-worker-oldest-message-age-dev"]["Threshold"] == v["alarms"]["oldest_message_age_seconds"]


def test_applied_roles_carry_the_rendered_policies(applied_dev_stack: AppliedStack):
    iam = applied_dev_stack.client("iam")
    role = applied_dev_stack.outputs["task_role_arn"].rsplit("/", 1)[1]
    document = iam.get_role_policy(RoleName=role, PolicyName="worker-task")["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    sids = [s["Sid"] for s in document["Statement"]]
    assert sids == ["ReadUploadedVideos", "WriteAnalysisResults", "ConsumeJobsQueue", "ProtectOwnTaskWhileBusy"]


def test_applied_operator_alarms_and_dashboard(applied_dev_stack: AppliedStack):
    stack, v = applied_dev_stack, applied_dev_stack.values
    cloudwatch = stack.client("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    dimensions = [{"Name": "Environment", "Value": "dev"},
                  {"Name": "Service", "Value": stack.outputs["service_name"]}]
    failure = alarms["cricksy-ai-worker-failure-rate-dev"]
    queries = {q["Id"]: q for q in failure["Metrics"]}
    assert set(queries) == {"failed", "completed", "rate"}
    assert queries["rate"]["ReturnData"] is True
    assert f">= {v['alarms']['failure_rate_minimum_jobs']}," in queries["rate"]["Expression"]
    for query_id, metric in (("failed", "JobsFailed"), ("completed", "JobsCompleted")):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"]["Namespace"] == v["metrics"]["namespace"]
        assert stat["Metric"]["MetricName"] == metric
        assert sorted(stat["Metric"]["Dimensions"], key=lambda d: d["Name"]) == dimensions
    assert failure["Threshold"] == v["alarms"]["failure_rate_percent"]
    wait = alarms["cricksy-ai-worker-queue-wait-dev"]
    assert (wait["MetricName"], wait["ExtendedStatistic"]) == ("QueueWait", "p90")
    assert wait["Threshold"] == v["alarms"]["queue_wait_p90_seconds"]
    body = json.loads(cloudwatch.get_dashboard(DashboardName="cricksy-ai-worker-dev")["DashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles == ["Queue: waiting and in flight", "Dead-letter queue", "Running tasks", "Jobs per minute",
                      "Failure rate (% of finished jobs)", "Job duration and queue wait (s)"]
    job_metrics = {m[1] for w in body["widgets"] for m in w["properties"]["metrics"]
                   if isinstance(m[0], str) and m[0] == v["metrics"]["namespace"]}
    assert job_metrics == {"JobsCompleted", "JobsFailed", "JobsRetried", "JobDuration", "QueueWait"}


def test_outputs_give_producers_what_they_need(applied_dev_stack: AppliedStack):
    stack, v = applied_dev_stack, applied_dev_stack.values
    outputs = stack.outputs
    assert outputs["videos_bucket_name"] == v["shared"]["videos_bucket"]
    assert (outputs["uploads_prefix"], outputs["results_prefix"]) == (v["storage"]["uploads_prefix"],
                                                                      v["storage"]["results_prefix"])
    assert outputs["database_secret_name"] == v["shared"]["secrets"]["DATABASE_URL"]
    queue_arn = stack.client("sqs").get_queue_attributes(QueueUrl=outputs["queue_url"],
                                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert outputs["queue_arn"] == queue_arn


def test_alarms_and_service_events_reach_the_encrypted_topic(applied_dev_stack: AppliedStack):
    stack, v = applied_dev_stack, applied_dev_stack.values
    topic = stack.outputs["alarm_topic_arn"]
    sns = stack.client("sns")
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    key = stack.client("kms").describe_key(KeyId=attributes["KmsMasterKeyId"])["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER" and key["KeyState"] == "Enabled"
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [
        (s["protocol"], s["endpoint"]) for s in v["alarms"]["subscriptions"]]
    alarms = stack.client("cloudwatch").describe_alarms()["MetricAlarms"]
    operator = [a for a in alarms if not a["AlarmName"].endswith(("messages-waiting-dev", "queue-idle-dev"))]
    assert len(operator) == 4
    for alarm in operator:
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic], alarm["AlarmName"]

    events = stack.client("events")
    rule = events.describe_rule(Name="cricksy-ai-worker-tasks-not-starting-dev")
    pattern = json.loads(rule["EventPattern"])
    service_arn = stack.client("ecs").describe_services(
        cluster=v["shared"]["cluster_name"], services=[stack.outputs["service_name"]])["services"][0]["serviceArn"]
    assert pattern["resources"] == [service_arn]
    assert "SERVICE_TASK_START_IMPAIRED" in pattern["detail"]["eventName"]
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]] == [topic]
    policy = json.loads(attributes["Policy"])
    publishers = {s["Sid"]: s for s in policy["Statement"]}
    assert publishers["ServiceEventsRule"]["Principal"] == {"Service": "events.amazonaws.com"}
    assert publishers["ServiceEventsRule"]["Condition"]["ArnEquals"]["aws:SourceArn"] == rule["Arn"]


def test_scale_in_waits_for_jobs_in_flight_too(applied_dev_stack: AppliedStack):
    alarms = {a["AlarmName"]: a for a in applied_dev_stack.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    idle = alarms["cricksy-ai-worker-queue-idle-dev"]
    queries = {q["Id"]: q for q in idle["Metrics"]}
    assert queries["jobs"]["Expression"] == "visible + in_flight" and queries["jobs"]["ReturnData"] is True
    assert {queries[i]["MetricStat"]["Metric"]["MetricName"] for i in ("visible", "in_flight")} == {
        "ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"}
    assert (idle["ComparisonOperator"], idle["Threshold"]) == ("LessThanOrEqualToThreshold", 0)
