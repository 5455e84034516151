"""Compare a fresh render with the files on disk: what `diff` shows and `check` judges."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from generator.output import read_module
from generator.render import Module


@dataclass
class Drift:
    folder: Path
    changed: list[str]
    missing: list[str]
    extra: list[str]

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing or self.extra)


def compare(module: Module, folder: Path) -> tuple[Drift, dict[str, bytes]]:
    """What differs; a file that is not even UTF-8 text simply differs."""
    on_disk = read_module(folder)
    drift = Drift(
        folder=folder,
        changed=sorted(n for n in module.files if n in on_disk and on_disk[n] != module.files[n].encode("utf-8")),
        missing=sorted(set(module.files) - set(on_disk)),
        extra=sorted(set(on_disk) - set(module.files)),
    )
    return drift, on_disk


def unified_diff(module: Module, folder: Path) -> str:
    """A unified diff turning the files on disk into the fresh render."""
    drift, on_disk = compare(module, folder)
    chunks: list[str] = []
    for name in sorted(drift.changed + drift.missing + drift.extra):
        path = folder / name
        old = on_disk.get(name, b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        new = module.files.get(name, "").splitlines(keepends=True)
        chunks.extend(difflib.unified_diff(
            old, new,
            fromfile=str(path) if name in on_disk else "/dev/null",
            tofile=str(path) if name in module.files else "/dev/null"))
    return "".join(chunks)
