"""Example values committed so the repository renders, which must not reach a real account.

The subnet and security-group IDs in environments/*.yaml are well-formed
examples, and the on-call address is at example.com (reserved by RFC 2606).
`cricksy-gen lint` warns while any of them is still in an environment's
merged values; nothing refuses them, because CI renders and checks them.
"""
from __future__ import annotations

from typing import Any

from generator.errors import KeyPath

EXAMPLE_NETWORK_IDS = frozenset({
    "subnet-0d1e5a7c9b3f20101", "subnet-0d1e5a7c9b3f20102", "sg-0d1e5a7c9b3f20103",
    "subnet-05a7c3e1d9b4f0201", "subnet-05a7c3e1d9b4f0202", "sg-05a7c3e1d9b4f0203",
    "subnet-0f3b9d2a6c8e40301", "subnet-0f3b9d2a6c8e40302", "subnet-0f3b9d2a6c8e40303", "sg-0f3b9d2a6c8e40304",
})
EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")


def example_values(values: dict[str, Any]) -> list[tuple[KeyPath, str]]:
    """(key, value) of every example value still in the merged values."""
    found: list[tuple[KeyPath, str]] = []
    shared = values["shared"]
    for key in ("subnet_ids", "security_group_ids"):
        found += [(("shared", key), item) for item in shared[key] if item in EXAMPLE_NETWORK_IDS]
    for subscription in values["alarms"]["subscriptions"]:
        endpoint = subscription["endpoint"]
        if endpoint.rsplit("@", 1)[-1].lower() in EXAMPLE_DOMAINS:
            found.append((("alarms", "subscriptions"), endpoint))
    return found
