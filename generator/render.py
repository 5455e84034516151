"""Render Jinja templates into canonical Terraform JSON, in memory.

Values may reach the output only through the `tojson` filter: every `{{ ... }}`
whose result did not come from it is an error, so a value holding quotes,
newlines or `${` can neither break the JSON nor inject a Terraform expression
(`${` and `%{` from values come out escaped as `$${` and `%%{`). The rendered
text is parsed back, checked, and written canonically - sorted keys, two-space
indent, trailing newline, a `"//"` header - so that the same inputs give the
same bytes on every machine.
"""
from __future__ import annotations

import functools
import json
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from generator import settings
from generator.derived import derive
from generator.errors import Problem, RenderError, Source
from generator.model import Values

TEMPLATE_SUFFIX = ".tf.json.j2"
# Root keys Terraform accepts in a .tf.json file.
TERRAFORM_BLOCKS = {"//", "terraform", "provider", "variable", "locals", "data", "resource", "output",
                    "module", "moved", "import", "check", "removed"}


class JsonText(str):
    """Text produced by the `tojson` filter: the only thing a template may print."""


def escape_terraform(value: Any) -> Any:
    """Make every string inert for Terraform's template syntax (`${...}`, `%{...}`)."""
    if isinstance(value, str):
        return value.replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, dict):
        return {escape_terraform(k): escape_terraform(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_terraform(v) for v in value]
    return value


def tojson(value: Any) -> JsonText:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return JsonText(json.dumps(escape_terraform(value), sort_keys=True, ensure_ascii=False))


_LABEL = re.compile(r"^[a-z_][a-z0-9_]*$")


def tf_label(value: Any) -> JsonText:
    """A Terraform block label to splice into a reference; only [a-z0-9_] can pass."""
    text = str(value)
    if not _LABEL.match(text):
        raise jinja2.TemplateRuntimeError(f"{text!r} cannot be a Terraform label (expected [a-z_][a-z0-9_]*)")
    return JsonText(text)


def fail(message: str) -> None:
    """Let a template refuse values it cannot render (`{{ fail("...") }}`)."""
    raise jinja2.TemplateRuntimeError(message)


def _finalize(value: Any) -> Any:
    if isinstance(value, JsonText):
        return value
    raise jinja2.TemplateRuntimeError(
        f"{value!r} is printed without '| tojson'; values must enter the JSON through tojson")


@functools.lru_cache(maxsize=8)
def _environment(templates: Path) -> jinja2.Environment:
    """One environment per templates folder, so `--all` compiles each template once."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters["tojson"] = tojson
    env.filters["tf_label"] = tf_label
    env.globals["fail"] = fail
    return env


@dataclass
class Module:
    """One environment's rendered root module: file name -> canonical text."""

    env: str
    files: dict[str, str]


def template_names(root: Path) -> list[str]:
    folder = root / "templates"
    if not folder.is_dir():
        raise RenderError([Problem((), "folder not found; run from the repository root or pass --root",
                                   Source(str(folder)))])
    return sorted(p.name for p in folder.glob(f"*{TEMPLATE_SUFFIX}") if not p.name.startswith("_"))


def render_context(values: Values) -> dict[str, Any]:
    """Everything a template may read: one place, so templates and checks see the same numbers."""
    return {
        "env": values.env,
        "values": values.data,
        "derived": derive(values.data),
        "worker_contract": settings.contract(values.data, values.env),
    }


def render(root: Path, values: Values) -> Module:
    """Render every template for one environment; raise RenderError listing every failure."""
    env = _environment(root / "templates")
    context = render_context(values)
    files: dict[str, str] = {}
    problems: list[Problem] = []
    for name in template_names(root):
        label = f"templates/{name}"
        try:
            text = env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(Problem((), f"template syntax error: {exc.message}", Source(label, exc.lineno)))
            continue
        except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            problems.append(Problem((), f"{type(exc).__name__}: {exc}", Source(label, _template_line(name))))
            continue
        if not text.strip():
            continue  # a template may render nothing, e.g. an optional backend
        try:
            document = parse(text)
        except ValueError as exc:
            problems.append(Problem((), str(exc), Source(label)))
            continue
        unknown = sorted(set(document) - TERRAFORM_BLOCKS)
        if unknown:
            problems.append(Problem((), f"unknown Terraform block type(s) at the root: {', '.join(unknown)}",
                                    Source(label)))
            continue
        files[name[: -len(".j2")]] = canonical(document, header(values.env, name))
    if problems:
        raise RenderError(problems)
    return Module(values.env, files)


def _template_line(name: str) -> int | None:
    """The template line being rendered when the current exception was raised."""
    line = None
    for frame, lineno in traceback.walk_tb(sys.exc_info()[2]):
        if frame.f_code.co_filename.endswith(name):
            line = lineno
    return line


def parse(text: str) -> dict[str, Any]:
    """Parse rendered text as one JSON object, refusing duplicate keys."""
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError(f"rendered JSON has the key {key!r} twice in one object")
            seen[key] = value
        return seen

    try:
        document = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        lines = text.splitlines()
        shown = lines[exc.lineno - 1].strip() if 0 < exc.lineno <= len(lines) else ""
        raise ValueError(f"rendered text is not valid JSON at rendered line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg}: {shown!r}") from None
    if not isinstance(document, dict):
        raise ValueError("rendered JSON must be an object of Terraform blocks")
    return document


def header(env: str, template: str) -> str:
    return (f"Generated by cricksy-gen from templates/{template} for environment {env}. "
            f"Do not edit: change environments/*.yaml, then run `cricksy-gen render --env {env}`.")


def canonical(document: dict[str, Any], comment: str) -> str:
    document = {**document, "//": comment}
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
