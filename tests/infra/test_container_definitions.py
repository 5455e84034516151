"""Proof 2: container definitions against botocore's RegisterTaskDefinition model, enums included."""
from generator.checks import check_module, container_definitions
from generator.render import Module
from tests.infra.conftest import REPO, module, values


def committed(env: str) -> Module:
    return Module(env, {p.name: p.read_text() for p in (REPO / "infra" / env).glob("*.tf.json")})


def test_container_definitions_match_the_ecs_api_model(env: str):
    found = list(container_definitions(committed(env)))
    assert [(file, label) for file, label, _ in found] == [("ecs.tf.json", "worker")]
    assert check_module(committed(env)) == []


def test_worker_container_is_hardened_and_matches_values(env: str):
    (_, _, definitions), = container_definitions(committed(env))
    (container,) = definitions
    v = values(env)
    assert container["readonlyRootFilesystem"] is True
    assert container["user"] == v["image"]["user"] and not container["user"].startswith("0")
    assert container["stopTimeout"] == 120
    assert container["command"] == v["image"]["command"]
    assert container["mountPoints"] == [{"sourceVolume": "scratch", "containerPath": v["image"]["scratch_path"],
                                         "readOnly": False}]
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert [s["name"] for s in container["secrets"]] == sorted(v["shared"]["secrets"])
    assert all(s["valueFrom"].startswith("${data.aws_secretsmanager_secret.") for s in container["secrets"])
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert not set(environment) & {s["name"] for s in container["secrets"]}
    assert environment["SQS_VIDEO_ANALYSIS_QUEUE_URL"] == "${aws_sqs_queue.jobs.id}"
    assert environment["WORKER_TMP_DIR"] == v["image"]["scratch_path"]
    check = v["worker"]["health_check"]
    assert container["healthCheck"] == {
        "command": ["CMD", *v["image"]["entrypoint"], "health"], "interval": check["interval_seconds"],
        "timeout": check["timeout_seconds"], "retries": check["retries"], "startPeriod": check["start_period_seconds"]}
    assert environment["METRICS_NAMESPACE"] == v["metrics"]["namespace"]
    assert environment["METRICS_ENVIRONMENT"] == env
    assert environment["METRICS_SERVICE"] == "${local.service_name}"
    task = module(env)["ecs.tf.json"]["resource"]["aws_ecs_task_definition"]["worker"]
    assert task["volume"] == [{"name": "scratch"}]
    assert task["execution_role_arn"] != task["task_role_arn"]


def test_checker_reports_unknown_keys_wrong_types_and_bad_enums():
    module = committed("dev")
    text = module.files["ecs.tf.json"]
    broken = (text.replace('"readonlyRootFilesystem": true', '"readOnlyRootFilesystem": true')
                  .replace('"stopTimeout": 120', '"stopTimeout": "120"')
                  .replace('"logDriver": "awslogs"', '"logDriver": "cloudwatch"'))
    problems = [str(p) for p in check_module(Module("dev", {**module.files, "ecs.tf.json": broken}))]
    assert any("Unknown parameter in containerDefinitions[0]: \"readOnlyRootFilesystem\"" in p for p in problems), problems
    assert any("Invalid type for parameter containerDefinitions[0].stopTimeout" in p for p in problems), problems
    assert any("request.containerDefinitions[0].logConfiguration.logDriver: 'cloudwatch' is not one of" in p
               for p in problems), problems
    assert all(p.startswith("dev: ecs.tf.json: resource.aws_ecs_task_definition.worker.container_definitions")
               for p in problems)
