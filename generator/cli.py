"""`cricksy-gen`: the command line over values, render, output and drift.

Exit codes for every command: 0 success, 1 drift (`check` only), 2 invalid input
or usage. Errors go to stderr, data to stdout.
"""
from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from generator.errors import GeneratorError, OutputError, dotted
from generator.values import SetFlag, Values, environments, load_values

if TYPE_CHECKING:
    from generator.render import Module

EXIT_DRIFT = 1
EXIT_INVALID = 2


@dataclass
class Target:
    env: str
    values: Values
    module: Module
    folder: Path


def _fail_on_invalid_input(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OutputError as exc:
            click.echo(f"error: {exc.problems[0]}", err=True)
            sys.exit(EXIT_INVALID)
        except GeneratorError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            count = len(exc.problems)
            click.echo(f"{count} problem{'s' if count != 1 else ''} found; nothing was written.", err=True)
            sys.exit(EXIT_INVALID)
        except KeyboardInterrupt:
            click.echo("error: interrupted; every output folder is as it was before this run.", err=True)
            sys.exit(EXIT_INVALID)
    return wrapper


def _root_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                        show_default=True, help="Folder holding templates/ and environments/.")(command)


def _env_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--all", "all_envs", is_flag=True, help="Every environment found.")(command)
    command = click.option("--env", "env", metavar="ENV", help="Environment name, e.g. prod.")(command)
    return command


def _layer_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in reversed([
        click.option("-f", "--values", "value_files", multiple=True, metavar="FILE",
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="Extra values file, applied after the environment file; repeatable."),
        click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                     help="Set one value, read as YAML (2048, true, null, [a, b]); repeatable."),
        click.option("--set-string", "set_strings", multiple=True, metavar="PATH=VALUE",
                     help="Set one value, always as a string; applied after every --set."),
    ]):
        command = decorator(command)
    return command


def _out_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Output folder (default infra/ENV). With --all, the parent of one folder "
                             "per environment.")(command)


def _set_flags(sets: tuple[str, ...], set_strings: tuple[str, ...]) -> list[SetFlag]:
    """Every --set, then every --set-string, each group in command-line order (as Helm applies them)."""
    return [SetFlag(s) for s in sets] + [SetFlag(s, as_string=True) for s in set_strings]


def _selected(root: Path, env: str | None, all_envs: bool) -> list[str]:
    if bool(env) == all_envs:
        raise click.UsageError("give exactly one of --env ENV or --all")
    return environments(root) if all_envs else [env]  # type: ignore[list-item]


def _targets(root: Path, env: str | None, all_envs: bool, out: Path | None, value_files: tuple[Path, ...] = (),
             sets: tuple[str, ...] = (), set_strings: tuple[str, ...] = ()) -> list[Target]:
    """Load and render every selected environment before anything is written or compared."""
    from generator.render import render

    flags = _set_flags(sets, set_strings)
    names = _selected(root, env, all_envs)
    targets: list[Target] = []
    problems = []
    files: dict = {}
    for name in names:
        try:
            values = load_values(root, name, value_files, flags, files)
            module = render(root, values)
        except GeneratorError as exc:
            problems.extend(exc.problems)
            continue
        if out is None:
            folder = root / "infra" / name
        else:
            folder = out / name if all_envs else out
        targets.append(Target(name, values, module, folder))
    if problems:
        raise GeneratorError(problems)
    return targets


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Render the worker's Terraform JSON per environment from templates/ and environments/.

    \b
    Example:
      cricksy-gen render --env prod
      terraform -chdir=infra/prod plan
    """


@main.command("render")
@_env_options
@_layer_options
@_out_option
@click.option("--prune", is_flag=True, help="Remove *.tf.json files in the output folder that are no longer rendered.")
@_root_option
@_fail_on_invalid_input
def render_command(env: str | None, all_envs: bool, value_files: tuple[Path, ...], sets: tuple[str, ...],
                   set_strings: tuple[str, ...], out: Path | None, prune: bool, root: Path) -> None:
    """Write the Terraform root module of one or every environment.

    Nothing is written unless every selected environment validates and renders.

    \b
    Examples:
      cricksy-gen render --env prod
      cricksy-gen render --all --prune
      cricksy-gen render --env dev --set worker.cpu=1024 --set worker.memory=2048 --out /tmp/dev
    """
    from generator.output import write_modules

    targets = _targets(root, env, all_envs, out, value_files, sets, set_strings)
    reports = write_modules([(target.module, target.folder) for target in targets], prune=prune)
    for target, report in zip(targets, reports):
        click.echo(f"{target.env}: {target.folder}: {len(report.written)} written, "
                   f"{len(report.unchanged)} unchanged"
                   + (f", {len(report.removed)} removed" if report.removed else ""))
        for name in report.stale:
            click.echo(f"warning: {target.folder / name} is no longer rendered; "
                       f"remove it with `cricksy-gen render --env {target.env} --prune`", err=True)


@main.command("values")
@click.option("--env", "env", required=True, metavar="ENV", help="Environment name, e.g. prod.")
@_layer_options
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--explain", is_flag=True, help="Show, for every leaf, the file (and line) or flag that set it.")
@_root_option
@_fail_on_invalid_input
def values_command(env: str, value_files: tuple[Path, ...], sets: tuple[str, ...], set_strings: tuple[str, ...],
                   fmt: str, explain: bool, root: Path) -> None:
    """Print the merged, validated values of an environment.

    \b
    Examples:
      cricksy-gen values --env prod
      cricksy-gen values --env dev --explain
      cricksy-gen values --env prod --set worker.cpu=4096 --format json
    """
    flags = _set_flags(sets, set_strings)
    values = load_values(root, env, value_files, flags)
    if explain:
        rows = [(dotted(path), value, str(source) if source else "?") for path, value, source in values.leaves()]
        if fmt == "json":
            click.echo(json.dumps([{"path": p, "value": v, "source": s} for p, v, s in rows], indent=2))
        else:
            width = max(len(p) for p, _, _ in rows)
            for path, value, source in rows:
                click.echo(f"{path:<{width}}  {json.dumps(value)}  # {source}")
    elif fmt == "json":
        click.echo(json.dumps(values.data, indent=2, sort_keys=True))
    else:
        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        yaml.dump(values.data, sys.stdout)


@main.command("diff")
@_env_options
@_layer_options
@_out_option
@_root_option
@_fail_on_invalid_input
def diff_command(env: str | None, all_envs: bool, value_files: tuple[Path, ...], sets: tuple[str, ...],
                 set_strings: tuple[str, ...], out: Path | None, root: Path) -> None:
    """Show a unified diff from the files on disk to a fresh render.

    \b
    Example:
      cricksy-gen diff --env prod --set autoscaling.max_count=30
    """
    from generator.drift import unified_diff

    for target in _targets(root, env, all_envs, out, value_files, sets, set_strings):
        click.echo(unified_diff(target.module, target.folder), nl=False)


@main.command("check")
@_env_options
@_out_option
@_root_option
@_fail_on_invalid_input
def check_command(env: str | None, all_envs: bool, out: Path | None, root: Path) -> None:
    """For CI: exit 0 when the files on disk equal a fresh render, 1 on drift, 2 on invalid input.

    \b
    Example:
      cricksy-gen check --all
    """
    from generator.drift import compare

    drifted = False
    for target in _targets(root, env, all_envs, out):
        drift, _ = compare(target.module, target.folder)
        if drift.clean:
            click.echo(f"{target.env}: {target.folder} is up to date")
            continue
        drifted = True
        for label, names in (("differs from a fresh render", drift.changed),
                             ("is missing", drift.missing),
                             ("is no longer rendered", drift.extra)):
            for name in names:
                click.echo(f"drift: {target.folder / name} {label}", err=True)
        fix = f"cricksy-gen render --env {target.env}" + (f" --out {out}" if out and not all_envs else "")
        click.echo(f"fix: run `{fix}{' --prune' if drift.extra else ''}`, review, commit", err=True)
    if drifted:
        sys.exit(EXIT_DRIFT)


@main.command("lint")
@_env_options
@_layer_options
@_root_option
@_fail_on_invalid_input
def lint_command(env: str | None, all_envs: bool, value_files: tuple[Path, ...], sets: tuple[str, ...],
                 set_strings: tuple[str, ...], root: Path) -> None:
    """Validate values and the rendered output without writing anything.

    \b
    Example:
      cricksy-gen lint --all
    """
    from generator import checks  # botocore's models: only lint needs them
    from generator.examples import example_values

    targets = _targets(root, env, all_envs, None, value_files, sets, set_strings)
    problems = [problem for target in targets for problem in checks.check_module(target.module)]
    if problems:
        raise GeneratorError(problems)
    for target in targets:
        for path, value in example_values(target.values.data):
            click.echo(f"warning: {target.values.origin(path)}: {dotted(path)}: {value} is an example value; "
                       "replace it before the first apply (README: Before the first apply)", err=True)
        click.echo(f"{target.env}: ok ({len(target.module.files)} files)")


@main.command("envs")
@_root_option
@_fail_on_invalid_input
def envs_command(root: Path) -> None:
    """List the environments found in environments/.

    \b
    Example:
      cricksy-gen envs
    """
    for name in environments(root):
        click.echo(name)
