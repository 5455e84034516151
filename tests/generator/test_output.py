"""Whole-run atomic output: on any error or interrupt every module is wholly old, no temporary file
stays, and the exit is 2 with one line naming the path; file modes survive a rewrite."""
import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import output
from generator.cli import main

ENVS = ("dev", "staging", "prod")
# A change that touches several files of every environment.
CHANGE = ("--set-string", "tags.owner=platform", "--set", "logs.retention_days=14")


def run(root: Path, *args: str):
    return CliRunner().invoke(main, [*args, "--root", str(root)], catch_exceptions=False)


def tree(root: Path) -> dict[str, bytes]:
    """Every file below root/infra, hidden ones included (so a stray temporary file shows)."""
    base = root / "infra"
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


@pytest.fixture
def lock():
    """Make a path unwritable even for root (chattr +i), or by mode when not root; undone afterwards."""
    locked: list[Path] = []

    def make(path: Path) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(path)], check=True)
        else:
            target = path if path.is_dir() else path.parent
            path = target
            os.chmod(target, 0o555)
        locked.append(path)

    yield make
    for path in locked:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            os.chmod(path, 0o755)


def assert_clean_failure(result, path: Path, before: dict[str, bytes], root: Path) -> None:
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), result.stderr
    assert "nothing was changed" in lines[0]
    assert tree(root) == before


def test_an_immutable_output_file_changes_nothing_anywhere(root: Path, lock):
    assert run(root, "render", "--all").exit_code == 0
    before = tree(root)
    target = root / "infra" / "staging" / "logs.tf.json"
    lock(target)
    result = run(root, "render", "--all", *CHANGE)
    assert_clean_failure(result, target if os.geteuid() == 0 else target.parent, before, root)


def test_render_all_with_one_environment_folder_read_only(root: Path, lock):
    assert run(root, "render", "--all").exit_code == 0
    before = tree(root)
    folder = root / "infra" / "prod"
    lock(folder)
    result = run(root, "render", "--all", *CHANGE)
    assert_clean_failure(result, folder, before, root)


def test_a_read_only_folder_for_a_new_environment(root: Path, lock):
    (root / "infra").mkdir()
    lock(root / "infra")
    result = run(root, "render", "--env", "dev")
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {root / 'infra' / 'dev'}: cannot create")
    assert len(result.stderr.splitlines()) == 1


def test_out_under_a_file(root: Path, tmp_path: Path):
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    result = run(root, "render", "--env", "dev", "--out", str(blocker / "dev"))
    assert result.exit_code == 2
    assert result.stderr == (f"error: {blocker / 'dev'}: cannot create the output folder: Not a directory; "
                             "nothing was changed\n")
    assert blocker.read_text() == "x"


def test_out_dev_null():
    result = CliRunner().invoke(main, ["render", "--env", "dev", "--out", "/dev/null",
                                       "--root", str(Path(__file__).resolve().parents[2])])
    assert result.exit_code == 2
    assert result.stderr == ("error: /dev/null: exists but is not a folder; move it away or choose another "
                             "--out\n")


@pytest.mark.parametrize("command", ["render", "check", "diff"])
def test_output_folder_that_is_a_file(root: Path, command: str):
    (root / "infra").mkdir()
    (root / "infra" / "dev").write_text("not a folder")
    result = run(root, command, "--env", "dev")
    assert result.exit_code == 2
    assert result.stderr == (f"error: {root / 'infra' / 'dev'}: exists but is not a folder; move it away or "
                             "choose another --out\n")
    assert (root / "infra" / "dev").read_text() == "not a folder"


def hook_replace(monkeypatch, at_call: int, act) -> list:
    """Run `act` just before the at_call-th rename of the swap; returns the renamed targets."""
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == at_call:
            act()
        return real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", replace)
    return calls


def test_failure_while_swapping_rolls_back_the_files_already_replaced(root: Path, monkeypatch):
    assert run(root, "render", "--all").exit_code == 0
    before = tree(root)

    def fail():
        raise OSError(5, "Input/output error")

    calls = hook_replace(monkeypatch, 5, fail)  # by the 5th rename the swap has crossed environments
    result = run(root, "render", "--all", *CHANGE)
    assert_clean_failure(result, Path(calls[4]), before, root)
    assert {Path(c).parent.name for c in calls[:5]} >= {"dev", "prod"}


def test_sigint_while_swapping_is_held_then_undone(root: Path, monkeypatch):
    """A real SIGINT in the middle of the renames: held back, then every environment is rolled back."""
    assert run(root, "render", "--all").exit_code == 0
    before = tree(root)
    calls = hook_replace(monkeypatch, 2, lambda: os.kill(os.getpid(), signal.SIGINT))
    result = run(root, "render", "--all", *CHANGE)
    assert result.exit_code == 2
    assert result.stderr == "error: interrupted; every output folder is as it was before this run.\n"
    assert len(calls) > 2  # the swap went on after the signal, then was undone as a whole
    assert tree(root) == before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupt_while_staging_leaves_no_temporary_file(root: Path, monkeypatch):
    assert run(root, "render", "--all").exit_code == 0
    before = tree(root)
    real_fdopen, calls = os.fdopen, []

    def interrupted(fd, *args, **kwargs):
        calls.append(fd)
        if len(calls) == 4:
            os.close(fd)
            raise KeyboardInterrupt
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(output.os, "fdopen", interrupted)
    result = run(root, "render", "--all", *CHANGE)
    assert result.exit_code == 2 and "interrupted" in result.stderr
    assert tree(root) == before


def test_new_folders_are_removed_when_the_run_fails(root: Path, tmp_path: Path, monkeypatch):
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(dst).parent.name == "staging":
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", failing_replace)
    result = run(root, "render", "--all", "--out", str(tmp_path / "fresh"))
    assert result.exit_code == 2 and "No space left on device" in result.stderr
    assert not (tmp_path / "fresh").exists()


# --- 4. modes ---------------------------------------------------------------------

def test_a_rewritten_file_keeps_its_mode_and_a_new_file_honours_the_umask(root: Path):
    old_mask = os.umask(0o027)
    try:
        assert run(root, "render", "--env", "dev").exit_code == 0
        folder = root / "infra" / "dev"
        assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o640}
        os.chmod(folder / "logs.tf.json", 0o644)
        os.chmod(folder / "ecs.tf.json", 0o600)
        assert run(root, "render", "--env", "dev", "--set", "logs.retention_days=14",
                   "--set-string", "worker.environment.EXTRA=1").exit_code == 0
        assert stat.S_IMODE((folder / "logs.tf.json").stat().st_mode) == 0o644
        assert stat.S_IMODE((folder / "ecs.tf.json").stat().st_mode) == 0o600
        assert "EXTRA" in (folder / "ecs.tf.json").read_text()
    finally:
        os.umask(old_mask)


# --- 6. a file that is not UTF-8 in the output folder ----------------------------------

def test_non_utf8_output_file_is_drift_then_replaced(root: Path):
    assert run(root, "render", "--env", "dev").exit_code == 0
    target = root / "infra" / "dev" / "logs.tf.json"
    target.write_bytes(b"\xff\xfe{ not json \x80\n")
    stray = root / "infra" / "dev" / "old.tf.json"
    stray.write_bytes(b"\xc3\x28")
    checked = run(root, "check", "--env", "dev")
    assert checked.exit_code == 1
    assert f"drift: {target} differs from a fresh render" in checked.stderr
    assert f"drift: {stray} is no longer rendered" in checked.stderr
    diffed = run(root, "diff", "--env", "dev")
    assert diffed.exit_code == 0 and f"--- {target}" in diffed.stdout
    rendered = run(root, "render", "--env", "dev", "--prune")
    assert rendered.exit_code == 0 and "1 written" in rendered.stdout and "1 removed" in rendered.stdout
    assert run(root, "check", "--env", "dev").exit_code == 0


def test_unreadable_output_file_is_a_clean_refusal(root: Path, monkeypatch):
    assert run(root, "render", "--env", "dev").exit_code == 0
    real_read = Path.read_bytes

    def denied(self):
        if self.name == "queue.tf.json":
            raise PermissionError(13, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    result = run(root, "check", "--env", "dev")
    assert result.exit_code == 2
    assert result.stderr == (f"error: {root / 'infra' / 'dev' / 'queue.tf.json'}: cannot read the output folder: "
                             "Permission denied; nothing was changed\n")
