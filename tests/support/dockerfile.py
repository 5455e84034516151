"""Reading the Dockerfile as data: its stages, the final stage's ENV, ENTRYPOINT and the rest."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[2]


def parse(path: Path = REPO / "Dockerfile") -> DockerfileParser:
    return DockerfileParser(path=str(path))


def stages(dockerfile: DockerfileParser) -> list[list[dict]]:
    """Instructions grouped by build stage, in order."""
    out: list[list[dict]] = []
    for instruction in dockerfile.structure:
        if instruction["instruction"] == "FROM":
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def last(stage: list[dict], name: str) -> str:
    """The value of the stage's last `name` instruction (the one that counts)."""
    found = [i["value"] for i in stage if i["instruction"] == name]
    if not found:
        raise AssertionError(f"the stage has no {name}")
    return found[-1]


def env_of(stage: list[dict]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction["instruction"] == "ENV":
            for pair in shlex.split(instruction["value"]):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def image_entrypoint_and_env(dockerfile: DockerfileParser) -> tuple[list[str], dict[str, str]]:
    final = stages(dockerfile)[-1]
    return json.loads(last(final, "ENTRYPOINT")), env_of(final)
