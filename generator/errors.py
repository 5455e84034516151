"""Errors that point at the file, line, key and value a person has to fix.

This module imports nothing from the rest of the generator, so every other
module can raise and print problems without an import cycle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

KeyPath = tuple[str, ...]


def dotted(path: Sequence[str | int]) -> str:
    """Render a key path the way `--set` spells it."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part).replace(".", "\\.")
            out += f".{text}" if out else text
    return out or "(root)"


def kind(value: Any) -> str:
    """A value's kind in the words a YAML author uses."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string"


@dataclass(frozen=True)
class Source:
    """Where a value came from: a file (and line) or a command-line flag."""

    label: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.label}:{self.line}" if self.line else self.label


@dataclass(frozen=True)
class Problem:
    path: tuple[str, ...]
    message: str
    source: Source | None = None

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        key = f"{dotted(self.path)}: " if self.path else ""
        return f"{where}{key}{self.message}"


class GeneratorError(Exception):
    """Invalid input: the CLI reports it and exits 2."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ValuesError(GeneratorError):
    """The values (files, flags or their merge) are invalid."""


class RenderError(GeneratorError):
    """A template failed to render or rendered something that is not Terraform JSON."""


class OutputError(GeneratorError):
    """The output folder cannot be read or written; nothing was changed."""
