"""Test harness for the worker: real worker processes, an in-process stack, a cuttable TCP proxy."""
from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.aws import REPO_ROOT, Queues, free_port, worker_environ
from tests.support.events import matching, parse_events
from worker.clients import Services, connect
from worker.config import Settings, load_settings
from worker.health import HEARTBEAT_FILE
from worker.jobs import JobStore
from worker.submission import submit

STANDINS = "tests.support.standins"


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def cli_path() -> str:
    path = Path(sys.executable).parent / "cricksy-worker"
    if not path.exists():
        found = shutil.which("cricksy-worker")
        if found is None:
            raise AssertionError("cricksy-worker is not installed: run `pip install -e /work/main --no-deps`")
        return found
    return str(path)


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cli_path(), *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


class WorkerProcess:
    """`cricksy-worker run` as a child process, its stderr captured to a file we can read while it runs."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([cli_path(), "run"], env=env, cwd=REPO_ROOT,
                                     stdout=subprocess.DEVNULL, stderr=self._log)

    def events(self, name: str | None = None, **match: Any) -> list[dict[str, Any]]:
        return matching(parse_events(self.log_path.read_text(errors="replace")), name, **match)

    def wait_for(self, name: str, timeout: float = 30, **match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            hits = self.events(name, **match)
            if hits:
                return hits[0]
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited ({self.proc.returncode}) before {name}; log:\n{self.tail()}")
            return None

        try:
            return wait_until(found, timeout, f"event {name} {match or ''}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nworker log:\n{self.tail()}") from None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker still running after {timeout} s; log:\n{self.tail()}") from None

    def stop(self) -> None:
        """Teardown: SIGKILL if still running, always reap, close the log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._log.close()


@dataclass
class Stack:
    """One test's world: a migrated database, a bucket and a queue pair on the moto server."""

    endpoint: str
    database_url: str
    bucket: str
    queues: Queues
    s3: Any
    tmp_path: Path

    @property
    def worker_tmp(self) -> Path:
        path = self.tmp_path / "worker-tmp"
        path.mkdir(exist_ok=True)
        return path

    def job_scratch(self) -> list[Path]:
        """What jobs left in the scratch directory (the liveness heartbeat file belongs to the loop)."""
        return [path for path in self.worker_tmp.iterdir() if path.name != HEARTBEAT_FILE]

    def env(self, **overrides: str) -> dict[str, str]:
        defaults = {"WORKER_TMP_DIR": str(self.worker_tmp), "WORKER_ANALYZER": f"{STANDINS}:count_frames"}
        return worker_environ(self.endpoint, database_url=self.database_url, queue_url=self.queues.url,
                              bucket=self.bucket, **{**defaults, **overrides})

    def settings(self, **overrides: str) -> Settings:
        return load_settings(self.env(**overrides))

    @cached_property
    def services(self) -> Services:
        """Handles built the worker's way (needs the `aws_env` fixture for boto3's endpoint)."""
        return connect(self.settings())

    @property
    def jobs(self) -> JobStore:
        return self.services.jobs

    def close(self) -> None:
        if "services" in self.__dict__:
            self.services.jobs.engine.dispose()

    def submit(self, video: Path, options: dict[str, Any] | None = None) -> uuid.UUID:
        return submit(self.services, video, options)

    def row(self, job_id: uuid.UUID | str) -> dict[str, Any]:
        row = self.jobs.get(uuid.UUID(str(job_id)))
        assert row is not None, f"job {job_id} has no row"
        return row

    def wait_status(self, job_id: uuid.UUID | str, status: str, timeout: float = 30) -> dict[str, Any]:
        return wait_until(lambda: (row := self.row(job_id))["status"] == status and row, timeout,
                          f"job {job_id} to be {status}")

    def object_body(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()


class _AgentHandler(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.path, json.loads(body)))  # type: ignore[attr-defined]
        reply = b'{"protection": {"ProtectionEnabled": true}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


_PROTECTION_PATH = "/v3/task-abc/task-protection/v1/state"
PROTECT = (_PROTECTION_PATH, {"ProtectionEnabled": True, "ExpiresInMinutes": 60})
UNPROTECT = (_PROTECTION_PATH, {"ProtectionEnabled": False})


class FakeEcsAgent:
    """The ECS container agent's task-protection endpoint on a local port, recording every PUT."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _AgentHandler)
        self._server.requests = []  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.uri = f"http://127.0.0.1:{self._server.server_port}/v3/task-abc"  # what ECS_AGENT_URI looks like

    @property
    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self._server.requests)  # type: ignore[attr-defined]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class TcpProxy:
    """Forwards a local port to a server; `cut()` drops every connection and refuses new ones.

    Pointing the worker's DATABASE_URL at it gives a real, deterministic
    database outage without touching the server other tests use.
    """

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            doomed, self._sockets = self._sockets, []
        if listener is not None:
            listener.close()
        for sock in doomed:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def assert_handed_back(worker: WorkerProcess, stack: Stack, job_id: str) -> dict:
    """The worker handed the job back at a stop: lease released, row queued for its next attempt.
    Returns the `job.handed_back` event for the caller's own checks."""
    (handed_back,) = worker.events("job.handed_back")
    assert handed_back["lease_released"] is True
    row = stack.row(job_id)
    assert (row["status"], row["attempts"], row["lease_expires_at"]) == ("queued", 1, None)
    return handed_back
