"""Alembic environment: always online, on the connection handed over by `worker.migrations`."""
from alembic import context

from worker.migrations import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
