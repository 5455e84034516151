"""Checks on the rendered module that `terraform validate` cannot make.

Terraform sees container definitions as one opaque JSON string, so a misspelled
key or a wrong enum value there would only fail at `terraform apply`. The
templates keep container definitions in a local as plain JSON
(`"container_definitions": "${jsonencode(local.NAME)}"`), which lets us validate
them against the ECS API model that ships with botocore, enums included.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterator

import botocore.session
from botocore.model import Shape
from botocore.validate import ParamValidator

from generator.errors import Problem, Source
from generator.render import Module

_JSONENCODE_LOCAL = re.compile(r"^\$\{jsonencode\(local\.([A-Za-z_][A-Za-z0-9_]*)\)\}$")


def documents(module: Module) -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in module.files.items()}


def container_definitions(module: Module) -> Iterator[tuple[str, str, Any]]:
    """(file, task definition label, container definitions) for every task definition."""
    docs = documents(module)
    local_values = {key: value for doc in docs.values() for key, value in doc.get("locals", {}).items()}
    for name, doc in docs.items():
        for label, body in doc.get("resource", {}).get("aws_ecs_task_definition", {}).items():
            match = _JSONENCODE_LOCAL.match(body.get("container_definitions", ""))
            yield name, label, local_values.get(match.group(1)) if match else None


def _register_shape() -> Shape:
    ecs = botocore.session.get_session().get_service_model("ecs")
    return ecs.operation_model("RegisterTaskDefinition").input_shape


def check_module(module: Module) -> list[Problem]:
    """Every problem in the module's container definitions, against the ECS API model."""
    shape = _register_shape()
    problems: list[Problem] = []
    for file, label, definitions in container_definitions(module):
        where = Source(f"{module.env}: {file}")
        path = ("resource", "aws_ecs_task_definition", label, "container_definitions")
        if definitions is None:
            problems.append(Problem(path, "must be written as ${jsonencode(local.NAME)} with NAME a local "
                                          "holding the definitions, so they can be checked", where))
            continue
        request = {"family": label, "containerDefinitions": definitions}
        report = ParamValidator().validate(request, shape)
        if report.has_errors():
            problems.extend(Problem(path, line.strip(), where)
                            for line in report.generate_report().splitlines() if line.strip())
        problems.extend(Problem(path, message, where) for message in enum_errors(request, shape, "request"))
    return problems


def enum_errors(value: Any, shape: Shape, at: str) -> Iterator[str]:
    """Enum violations, which botocore's validator leaves to the server."""
    if shape.type_name == "structure" and isinstance(value, dict):
        for key, member in shape.members.items():
            if key in value:
                yield from enum_errors(value[key], member, f"{at}.{key}")
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            yield from enum_errors(item, shape.member, f"{at}[{index}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from enum_errors(item, shape.value, f"{at}.{key}")
    elif shape.type_name == "string" and isinstance(value, str) and "${" not in value:
        allowed = shape.enum
        if allowed and value not in allowed:
            yield f"{at}: {value!r} is not one of {', '.join(allowed)}"
