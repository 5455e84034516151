"""ECS task scale-in protection, held while a job runs so that scale-in stops idle tasks first.

Protection is a courtesy, not a guarantee: a task that is stopped anyway still
gets SIGTERM and hands its job back, so failures here are logged, never raised.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from worker.logs import log_event

log = logging.getLogger(__name__)

# Long enough for any job the size limits allow; it lapses by itself if the
# process dies without clearing it.
EXPIRES_IN_MINUTES = 60
_TIMEOUT_SECONDS = 3.0


class TaskProtection:
    def __init__(self, agent_uri: str | None):
        self.url = f"{agent_uri}/task-protection/v1/state" if agent_uri else None

    def set(self, enabled: bool, job_id: str) -> bool:
        """Ask the ECS agent to (un)protect this task; True when it agreed, or when not on ECS."""
        if self.url is None:
            return True
        body: dict[str, object] = {"ProtectionEnabled": enabled}
        if enabled:
            body["ExpiresInMinutes"] = EXPIRES_IN_MINUTES
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), method="PUT",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
                reply = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log_event(log, "protection.failed", logging.WARNING, job_id=job_id, enabled=enabled, error=str(exc))
            return False
        if reply.get("failure"):
            log_event(log, "protection.failed", logging.WARNING, job_id=job_id, enabled=enabled,
                      error=json.dumps(reply["failure"]))
            return False
        log_event(log, "protection.set", logging.DEBUG, job_id=job_id, enabled=enabled)
        return True
