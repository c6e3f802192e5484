"""``python -m migrations``: bring the database named by ``DATABASE_URL`` up to date."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from app import logs
from app.config import Settings
from migrations import apply_all


def store_index(settings: Settings) -> dict | None:
    """The ``store.index`` of the deployment's ``langgraph.json`` as LangGraph's ``IndexConfig``
    (None without one); checks the ``vector`` extension first (``ConfigurationError``)."""
    from app.deployment import Deployment
    from app.store.vectors import index_config, require_vector_extension

    if not Path(settings.config_path).exists():
        return None  # migrating needs no graph registry; without one there is no index
    deployment = Deployment.load(settings.config_path)
    if deployment.store_index is None:
        return None
    require_vector_extension(settings.database_url, str(deployment.path))
    deployment.add_dependencies()
    return index_config(deployment)


def main() -> int:
    settings = Settings.from_env()
    logs.configure(settings)
    applied = apply_all(settings.database_url, store_index(settings))
    logging.getLogger("migrations").info("database is up to date (%d file(s) applied now)", applied)
    return 0


if __name__ == "__main__":
    sys.exit(main())
