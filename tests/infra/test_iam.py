"""Proof 3: every IAM policy document, linted by parliament with placeholder ARNs, and least privilege."""
import json
import re

from parliament import analyze_policy_string

from tests.infra.conftest import merged, module, values

ACCOUNT, REGION = "123456789012", "us-east-2"
_REFERENCE = re.compile(r"\$\{([^}]+)\}")
# What each kind of reference stands for in a real account.
_PLACEHOLDERS = {
    "data.aws_partition.current.partition": lambda _: "aws",
    "data.aws_caller_identity.current.account_id": lambda _: ACCOUNT,
    r"aws_sqs_queue\.(\w+)\.arn": lambda m: f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue-{m[1]}",
    r"aws_cloudwatch_log_group\.(\w+)\.arn": lambda m: f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/group/{m[1]}",
    r"data\.aws_ecr_repository\.(\w+)\.arn": lambda m: f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{m[1]}",
    r"aws_sns_topic\.(\w+)\.arn": lambda m: f"arn:aws:sns:{REGION}:{ACCOUNT}:topic-{m[1]}",
    r"aws_cloudwatch_event_rule\.(\w+)\.arn": lambda m: f"arn:aws:events:{REGION}:{ACCOUNT}:rule/rule-{m[1]}",
    r"data\.aws_secretsmanager_secret\.(\w+)\.arn":
        lambda m: f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{m[1]}-AbCdEf",
}


def concrete(policy: dict, local_values: dict) -> str:
    """The policy as AWS would receive it, with references replaced by realistic values."""
    def substitute(match: re.Match) -> str:
        expression = match[1]
        if expression == "data.aws_s3_bucket.videos.arn":
            return f"arn:aws:s3:::{local_values['videos_bucket']}"
        if expression.startswith("local."):
            return local_values[expression.removeprefix("local.")].replace("$${", "${")
        for pattern, make in _PLACEHOLDERS.items():
            found = re.fullmatch(pattern, expression)
            if found:
                return make(found)
        raise AssertionError(f"no placeholder for ${{{expression}}}: add one to tests/infra/test_iam.py")
    text = _REFERENCE.sub(substitute, json.dumps(policy))
    assert "${" not in text
    return text


def policies(env: str) -> dict[str, dict]:
    local_values = merged(module(env), "locals")
    return {name: value for name, value in local_values.items() if isinstance(value, dict) and "Statement" in value}


def findings(text: str) -> list[tuple]:
    """parliament's own auditors. (Its optional community auditors flag ecr:GetAuthorizationToken and
    sts:AssumeRole as credential exposure: both hand out credentials by design, and ECS needs both.)"""
    return [(f.issue, f.detail) for f in analyze_policy_string(text).findings]


RESOURCE_POLICIES = {"alarm_key_policy": "aws_kms_key", "alarm_topic_policy": "aws_sns_topic_policy"}


def test_every_policy_is_a_checked_local(env: str):
    docs = module(env)
    resources = merged(docs, "resource")
    used = {body["policy"] for body in resources["aws_iam_role_policy"].values()}
    used |= {body["assume_role_policy"] for body in resources["aws_iam_role"].values()}
    used |= {body["policy"] for kind in set(RESOURCE_POLICIES.values()) for body in resources[kind].values()}
    assert used == {f"${{jsonencode(local.{name})}}" for name in policies(env)}


def test_resource_policies_have_no_parliament_findings_and_name_their_principals(env: str):
    """The alarm key and topic: only this account's IAM administers the key; only its alarms and
    its own events rule may publish."""
    local_values = merged(module(env), "locals")
    for name in RESOURCE_POLICIES:
        document = json.loads(concrete(local_values[name], local_values))
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), (name, statement["Sid"])
            assert statement["Principal"] != "*" and "*" not in json.dumps(statement["Principal"])
            if "Service" in statement["Principal"]:
                assert "Condition" in statement, (name, statement["Sid"])
            if name == "alarm_key_policy":
                # In a key policy "*" is the only way to write "this key": lint it as the key's ARN.
                assert statement["Resource"] == "*"
                statement["Resource"] = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        assert findings(json.dumps(document)) == [], name
    topic = {s["Sid"]: s for s in json.loads(concrete(local_values["alarm_topic_policy"], local_values))["Statement"]}
    assert topic["ServiceEventsRule"]["Condition"] == {
        "ArnEquals": {"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/rule-service_cannot_start_tasks"}}


def test_identity_policies_have_no_parliament_findings(env: str):
    local_values = merged(module(env), "locals")
    for name in ("execution_policy", "task_policy"):
        assert findings(concrete(local_values[name], local_values)) == [], name


def test_trust_policy_has_no_parliament_findings(env: str):
    """A trust policy has no Resource; it is linted as the statement on the role it protects."""
    local_values = merged(module(env), "locals")
    trust = json.loads(json.dumps(local_values["ecs_tasks_trust_policy"]))
    for statement in trust["Statement"]:
        assert "Resource" not in statement and statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        statement.pop("Principal")
        statement["Resource"] = f"arn:aws:iam::{ACCOUNT}:role/worker"
    assert findings(concrete(trust, local_values)) == []


def test_parliament_would_catch_a_mistake():
    local_values = merged(module("dev"), "locals")
    broken = json.loads(json.dumps(local_values["task_policy"]))
    broken["Statement"][0]["Action"] = "s3:GetObjekt"
    broken["Statement"][1]["Resource"] = "${aws_sqs_queue.jobs.arn}"
    issues = {issue for issue, _ in findings(concrete(broken, local_values))}
    assert {"UNKNOWN_ACTION", "RESOURCE_MISMATCH"} <= issues


def statements(env: str, name: str) -> dict[str, dict]:
    local_values = merged(module(env), "locals")
    return {s["Sid"]: s for s in json.loads(concrete(local_values[name], local_values))["Statement"]}


def test_least_privilege(env: str):
    v = values(env)
    bucket, uploads, results = v["shared"]["videos_bucket"], v["storage"]["uploads_prefix"], v["storage"]["results_prefix"]
    for name in ("execution_policy", "task_policy"):
        for sid, statement in statements(env, name).items():
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), sid
            if statement["Resource"] == "*":
                assert actions == ["ecr:GetAuthorizationToken"], f"{sid}: '*' only where no narrower resource exists"
    task = statements(env, "task_policy")
    assert task["ReadUploadedVideos"]["Action"] == "s3:GetObject"
    assert task["ReadUploadedVideos"]["Resource"] == f"arn:aws:s3:::{bucket}/{uploads}*"
    assert task["WriteAnalysisResults"]["Action"] == "s3:PutObject"
    assert task["WriteAnalysisResults"]["Resource"] == f"arn:aws:s3:::{bucket}/{results}*"
    assert sorted(task["ConsumeJobsQueue"]["Action"]) == ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
                                                         "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
    assert task["ConsumeJobsQueue"]["Resource"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue-jobs"
    assert task["ProtectOwnTaskWhileBusy"]["Resource"] == \
        f"arn:aws:ecs:{v['aws']['region']}:{ACCOUNT}:task/{v['shared']['cluster_name']}/*"
    execution = statements(env, "execution_policy")
    secret_labels = sorted(name.lower() for name in v["shared"]["secrets"])
    assert execution["ReadNamedSecrets"]["Resource"] == [
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{label}-AbCdEf" for label in secret_labels]
    data = merged(module(env), "data")["aws_secretsmanager_secret"]
    assert {label: body["name"] for label, body in data.items()} == \
        {name.lower(): secret for name, secret in v["shared"]["secrets"].items()}


def test_roles_are_not_shared_and_trust_only_this_account(env: str):
    roles = merged(module(env), "resource")["aws_iam_role"]
    assert set(roles) == {"execution", "task"}
    assert roles["execution"]["name"] != roles["task"]["name"]
    trust = merged(module(env), "locals")["ecs_tasks_trust_policy"]["Statement"][0]
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == "${data.aws_caller_identity.current.account_id}"
