"""Errors that point at the file, line, key and value a person has to fix."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


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
        from generator.values import dotted

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
