from alembic import context
from sqlmodel import SQLModel

import casework.store.casemodels  # noqa: F401
import casework.store.models  # noqa: F401  (registers the tables)
import casework.store.schedmodels  # noqa: F401
from casework.store.dbtypes import UTCDateTime  # noqa: F401

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from casework.store.db import make_engine

        engine = make_engine(context.config.get_main_option("sqlalchemy.url"), migrate=False)
        with engine.begin() as connection:
            _run(connection)
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
