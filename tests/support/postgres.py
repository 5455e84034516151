"""PostgreSQL for tests: the server on 127.0.0.1:5432, one throw-away schema per test.

A test's URL is in the form the backend writes (`postgresql://...`) and selects
its schema through libpq's `options=-csearch_path=...`, so the worker's own
URL handling is exercised too.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

SERVER = os.environ.get("CRICKSY_TEST_POSTGRES", "postgres@127.0.0.1:5432/test")
ADMIN_URL = f"postgresql+psycopg://{SERVER}"


def schema_url(schema: str) -> str:
    return f"postgresql://{SERVER}?options=-csearch_path%3D{schema}"


def admin_engine() -> sa.Engine:
    """An engine on the test database; fails loudly, with the fix, when PostgreSQL is not running."""
    engine = sa.create_engine(ADMIN_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {SERVER} ({exc.orig}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or point "
            "CRICKSY_TEST_POSTGRES at a server (user@host:port/database, trust auth)."
        ) from None
    return engine


@contextmanager
def temporary_schema(engine: sa.Engine) -> Iterator[str]:
    """Create a uniquely named schema, yield a URL that uses it, drop it (and everything in it) after."""
    schema = f"cricksy_t_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema_url(schema)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL lock_timeout = '20s'"))
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[sa.Engine]:
    try:
        engine = admin_engine()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin: sa.Engine) -> Iterator[str]:
    """`postgresql://` URL of an empty schema private to this test."""
    with temporary_schema(postgres_admin) as url:
        yield url
