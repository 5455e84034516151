"""Write rendered modules so that a failure or an interrupt changes nothing.

A run is staged whole before anything is replaced: for every selected
environment, each changed file is written as a temporary file beside its target
and flushed, and the current file is hard-linked aside as a backup. Only then
are the temporary files renamed over their targets, with SIGINT held back. If
any step fails, the renames already done are undone from the backups, the
temporary files and backups are removed, and OutputError names the path: each
module is then wholly old, and the exit is 2 (never 1, which CI reads as drift).

A replaced file keeps its mode; a new file gets the mode the umask gives.
Files the generator does not own (.terraform/, lock files, state, hand-written
.tf) are never touched; stale `*.tf.json` files are reported, and removed only
when asked (after every rename succeeded).
"""
from __future__ import annotations

import contextlib
import os
import secrets
import signal
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from generator.errors import OutputError, Problem, Source
from generator.render import Module

GENERATED_GLOB = "*.tf.json"


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass
class _Staged:
    tmp: Path
    target: Path
    backup: Path | None = None
    replaced: bool = False


def io_error(path: Path, exc: OSError, doing: str) -> OutputError:
    """One line naming the path and the reason, for the CLI's exit 2."""
    reason = exc.strerror or str(exc)
    return OutputError([Problem((), f"cannot {doing}: {reason}; nothing was changed", Source(str(path)))])


def read_module(folder: Path) -> dict[str, bytes]:
    """The generated-looking files currently in `folder` (name -> bytes); bytes, so any encoding is drift."""
    current = folder
    try:
        if not folder.exists():
            return {}
        if not folder.is_dir():
            raise OutputError([Problem((), "exists but is not a folder; move it away or choose another --out",
                                       Source(str(folder)))])
        out: dict[str, bytes] = {}
        for path in sorted(folder.glob(GENERATED_GLOB)):
            current = path
            if path.is_file():
                out[path.name] = path.read_bytes()
        return out
    except OSError as exc:
        raise io_error(current, exc, "read the output folder") from None


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return _umask_mode()


@contextlib.contextmanager
def _interrupts_held() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM back while files are being swapped; re-deliver them afterwards."""
    received: list[int] = []
    handlers = {}

    def hold(signum: int, _frame: object) -> None:
        received.append(signum)

    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            handlers[signum] = signal.signal(signum, hold)
    except ValueError:  # not the main thread: nothing to hold
        pass
    try:
        yield received
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def write_modules(jobs: Sequence[tuple[Module, Path]], *, prune: bool = False) -> list[WriteReport]:
    """Write every module to its folder: all of them, or (on any error or interrupt) none."""
    reports: list[WriteReport] = []
    staged: list[_Staged] = []
    created: list[Path] = []
    try:
        plans = []
        for module, folder in jobs:
            on_disk = read_module(folder)
            report = WriteReport()
            changed = {name: text for name, text in module.files.items()
                       if on_disk.get(name) != text.encode("utf-8")}
            report.unchanged = sorted(set(module.files) - set(changed))
            report.stale = sorted(set(on_disk) - set(module.files))
            reports.append(report)
            plans.append((folder, changed, report))
        for folder, changed, _ in plans:
            if changed:
                _make_folder(folder, created)
            for name, text in sorted(changed.items()):
                staged.append(_stage(folder / name, text))
        with _interrupts_held() as received:
            for item in staged:
                try:
                    os.replace(item.tmp, item.target)
                except OSError as exc:
                    raise io_error(item.target, exc, "replace the file") from None
                item.replaced = True
            if received:
                raise KeyboardInterrupt
        _discard_backups(staged)
    except BaseException:
        _roll_back(staged, created)
        raise
    for folder, changed, report in plans:
        report.written = sorted(changed)
        if prune and report.stale:
            for name in report.stale:
                try:
                    (folder / name).unlink()
                except OSError as exc:
                    raise OutputError([Problem((), f"cannot remove a stale file: {exc.strerror or exc}; "
                                                   "every rendered file was written", Source(str(folder / name)))])
            report.removed, report.stale = report.stale, []
        if changed or report.removed:
            _fsync_dir(folder)
    return reports


def _make_folder(folder: Path, created: list[Path]) -> None:
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        for path in reversed(missing):
            path.mkdir()
            created.append(path)
        if not folder.is_dir():
            raise NotADirectoryError(20, "Not a directory")
    except OSError as exc:
        raise io_error(folder, exc, "create the output folder") from None


def _stage(target: Path, text: str) -> _Staged:
    """A flushed temporary file beside `target`, with the target's mode, plus a backup of the target."""
    folder = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise io_error(folder, exc, "write in the output folder") from None
    item = _Staged(Path(tmp), target)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            os.fchmod(handle.fileno(), _mode_for(target))
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            backup = folder / f".{target.name}.{secrets.token_hex(6)}.bak"
            os.link(target, backup)
            item.backup = backup
    except OSError as exc:
        item.tmp.unlink(missing_ok=True)
        raise io_error(target, exc, "write the file") from None
    except BaseException:
        item.tmp.unlink(missing_ok=True)
        raise
    return item


def _roll_back(staged: list[_Staged], created: list[Path]) -> None:
    for item in staged:
        with contextlib.suppress(OSError):
            if item.replaced:
                if item.backup is not None:
                    os.replace(item.backup, item.target)
                else:
                    item.target.unlink()
            item.tmp.unlink(missing_ok=True)
            if item.backup is not None:
                item.backup.unlink(missing_ok=True)
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _discard_backups(staged: list[_Staged]) -> None:
    for item in staged:
        if item.backup is not None:
            with contextlib.suppress(OSError):
                item.backup.unlink()


def write_module(module: Module, folder: Path, *, prune: bool = False) -> WriteReport:
    """One module; see write_modules."""
    return write_modules([(module, folder)], prune=prune)[0]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
