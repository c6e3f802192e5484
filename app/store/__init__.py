"""Data access: the only package that calls psycopg.

``db.Database`` owns the pool, the named queries (one ``.sql`` file per store module) and the
retries; the other modules are thin functions over those queries that return plain dicts (rows)
or typed outcomes. Runs: ``runs`` (reads and transitions), ``run_creation``, ``cancels``,
``run_batches``, ``wakeups``.
"""

from app.store.db import Database

__all__ = ["Database"]
