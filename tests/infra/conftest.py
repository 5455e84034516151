import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("dev", "staging", "prod")


def module(env: str) -> dict[str, dict]:
    """The committed rendered module of `env` (tests/generator proves it equals a fresh render)."""
    return {p.name: json.loads(p.read_text()) for p in sorted((REPO / "infra" / env).glob("*.tf.json"))}


def values(env: str) -> dict:
    from generator.values import load_values
    return load_values(REPO, env).data


def merged(docs: dict[str, dict], block: str) -> dict:
    out: dict = {}
    for doc in docs.values():
        for kind, items in doc.get(block, {}).items():
            if isinstance(items, dict) and block in ("resource", "data"):
                out.setdefault(kind, {}).update(items)
            else:
                out[kind] = items
    return out


@pytest.fixture(params=ENVIRONMENTS)
def env(request) -> str:
    return request.param
