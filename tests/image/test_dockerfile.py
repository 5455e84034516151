"""The image's contract, proven without a Docker engine.

The Dockerfile is parsed and compared with the rendered task definition of
every environment and with the worker's own defaults, so the user, the
entrypoint and command, the working directory, the model path and the scratch
path cannot drift apart.
"""
import configparser
import fnmatch
import json
import re
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tests.support.dockerfile import env_of, last, parse, stages

from tests.infra.conftest import ENVIRONMENTS, merged, module, values
from worker import cli
from worker.analysis import model
from worker.config import pose_model_path

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return parse()


def final_stage(dockerfile: DockerfileParser) -> list[dict]:
    return stages(dockerfile)[-1]


def container(env: str) -> dict:
    return merged(module(env), "locals")["worker_container_definitions"][0]


def test_multi_stage_python_311_slim(dockerfile: DockerfileParser):
    froms = [i["value"] for i in dockerfile.structure if i["instruction"] == "FROM"]
    assert len(froms) >= 2
    assert dockerfile.baseimage.startswith("python:3.11-slim"), dockerfile.baseimage
    assert froms[0].startswith("${PYTHON_IMAGE} AS build") and froms[-1] == "${PYTHON_IMAGE}"
    final = final_stage(dockerfile)
    runs = " ".join(i["value"] for i in final if i["instruction"] == "RUN")
    assert "libegl1" in runs and "libgles2" in runs
    assert "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists" in runs
    for tool in ("gcc", "build-essential", "pip install", "git"):
        assert tool not in runs, f"{tool} in the final stage"
    copies = [i["value"] for i in final if i["instruction"] == "COPY"]
    assert copies == ["--from=build /opt/cricksy /opt/cricksy"], "the final stage takes only the built venv and model"
    build_env = env_of(stages(dockerfile)[0])
    assert build_env.get("PIP_NO_CACHE_DIR") == "1"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_user_entrypoint_and_command_match_the_task_definition(dockerfile: DockerfileParser, env: str):
    final = final_stage(dockerfile)
    definition = container(env)
    assert last(final, "USER") == definition["user"] == values(env)["image"]["user"]
    assert not definition["user"].startswith("0") and last(final, "USER") != "root"
    entrypoint, command = json.loads(last(final, "ENTRYPOINT")), json.loads(last(final, "CMD"))
    assert entrypoint == values(env)["image"]["entrypoint"]
    assert command == definition["command"]
    assert definition["healthCheck"]["command"] == ["CMD", *entrypoint, "health"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_paths_match_the_task_definition(dockerfile: DockerfileParser, env: str):
    final = final_stage(dockerfile)
    image_env = env_of(final)
    task_env = {e["name"]: e["value"] for e in container(env)["environment"]}
    for name in ("POSE_MODEL_PATH", "WORKER_TMP_DIR", "TMPDIR", "MPLCONFIGDIR"):
        assert image_env[name] == task_env[name], name
    scratch = container(env)["mountPoints"][0]["containerPath"]
    assert image_env["WORKER_TMP_DIR"] == scratch == values(env)["image"]["scratch_path"]
    runs = " ".join(i["value"] for i in final if i["instruction"] == "RUN")
    user = last(final, "USER").split(":")
    assert f"--owner {user[0]} --group {user[1]} {scratch}" in runs, "scratch must be writable by the user"
    assert last(final, "WORKDIR").startswith("/opt/cricksy")


def test_model_is_baked_where_the_worker_looks_and_verified(dockerfile: DockerfileParser):
    image_env = env_of(final_stage(dockerfile))
    model_path = Path(image_env["POSE_MODEL_PATH"])
    build_runs = " ".join(i["value"] for i in stages(dockerfile)[0] if i["instruction"] == "RUN")
    install = re.search(r"scripts/install-image\.sh (\S+) (\S+)", build_runs)
    assert install, "the build stage must run scripts/install-image.sh VENV MODEL_DIR"
    venv, model_dir = install.groups()
    assert Path(model_dir) / model.MODEL_NAME == model_path
    assert f"{model.MODEL_SHA256}  {model_path}" in build_runs, "the build re-checks the pinned sha256"
    assert image_env["PATH"].startswith(f"{venv}/bin:")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POSE_MODEL_PATH", str(model_path))
        assert pose_model_path() == model_path


def test_entrypoint_and_command_exist_in_the_package(dockerfile: DockerfileParser):
    final = final_stage(dockerfile)
    (program,) = json.loads(last(final, "ENTRYPOINT"))
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    scripts = dict(line.split(" = ") for line in setup["options.entry_points"]["console_scripts"].split("\n") if line)
    assert scripts[program] == "worker.cli:main"
    for subcommand in json.loads(last(final, "CMD"))[:1] + ["health"]:
        assert subcommand in cli.main.commands, subcommand


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: patterns in order, the last one that matches decides; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(p, body) or fnmatch.fnmatchcase(p, body.replace("**/", "")) for p in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_tests_state_and_local_data_out(dockerfile: DockerfileParser):
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for path in ("tests/worker/test_cli.py", "infra/prod/ecs.tf.json", "infra/dev/terraform.tfstate",
                 ".venv/bin/python", ".tools/checkov/bin/checkov", ".cache/test-media/messi5.jpg",
                 "out/result.json", ".git/HEAD", "worker/__pycache__/cli.cpython-311.pyc", "bench/pose_bench.py"):
        assert dockerignored(path, patterns), f"{path} would be sent to the Docker build"
    sources = [source for i in stages(dockerfile)[0] if i["instruction"] == "COPY"
               for source in i["value"].split()[:-1]]
    assert "worker" in sources and "scripts/install-image.sh" in sources
    for source in sources:
        probe = f"{source}/cli.py" if (REPO / source).is_dir() else source
        assert (REPO / probe).is_file(), probe
        assert not dockerignored(probe, patterns), f"COPY {source} is excluded by .dockerignore"
