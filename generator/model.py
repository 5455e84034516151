"""The data that flows from values files and flags to validation and rendering."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from generator.errors import KeyPath, Source


@dataclass
class Layer:
    """One source of values and where each of its nodes came from."""

    data: dict[str, Any]
    origins: dict[KeyPath, Source] = field(default_factory=dict)


@dataclass(frozen=True)
class SetFlag:
    """A `--set` or `--set-string` argument, kept whole so errors can quote it."""

    expression: str
    as_string: bool = False

    @property
    def flag(self) -> str:
        return "--set-string" if self.as_string else "--set"


@dataclass
class Values:
    """The merged values of one environment, with the origin of every node."""

    env: str
    data: dict[str, Any]
    origins: dict[KeyPath, Source]
    sources: list[str]

    def leaves(self) -> Iterator[tuple[KeyPath, Any, Source | None]]:
        """Every leaf (scalar, null or list) with the source that set it."""
        yield from _leaves(self.data, (), self.origins)

    def origin(self, path: Sequence[str | int]) -> Source | None:
        """The source of a key, or of its nearest ancestor that has one."""
        key = tuple(str(p) for p in path)
        while key not in self.origins and key:
            key = key[:-1]
        return self.origins.get(key)


def _leaves(node: Any, path: KeyPath, origins: dict[KeyPath, Source]) -> Iterator[tuple[KeyPath, Any, Source | None]]:
    if isinstance(node, dict) and node:
        for key in sorted(node):
            yield from _leaves(node[key], path + (key,), origins)
    else:
        yield path, node, origins.get(path)
