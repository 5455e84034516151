"""Write a rendered module to its folder so that a failure changes nothing.

Everything is rendered and checked in memory first. Changed files are then
written next to their targets as temporary files, flushed, and only when all of
them exist are they renamed over the targets. Files the generator does not own
(.terraform/, lock files, state, hand-written .tf) are never touched; stale
`*.tf.json` files are reported, and removed only when asked.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from generator.render import Module

GENERATED_GLOB = "*.tf.json"


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def read_module(folder: Path) -> dict[str, str]:
    """The generated-looking files currently in `folder` (name -> text)."""
    if not folder.is_dir():
        return {}
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob(GENERATED_GLOB)) if p.is_file()}


def write_module(module: Module, folder: Path, *, prune: bool = False) -> WriteReport:
    on_disk = read_module(folder)
    report = WriteReport()
    changed = {name: text for name, text in module.files.items() if on_disk.get(name) != text}
    report.unchanged = sorted(set(module.files) - set(changed))
    report.stale = sorted(set(on_disk) - set(module.files))
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, text in sorted(changed.items()):
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            staged.append((Path(tmp), folder / name))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
        report.written.append(target.name)
    if prune:
        for name in report.stale:
            (folder / name).unlink()
        report.removed, report.stale = report.stale, []
    _fsync_dir(folder)
    return report


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
