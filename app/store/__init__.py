"""Data access: the only package that calls psycopg.

``db.Database`` owns the pool, the named queries of ``queries.sql`` and the retries;
``assistants``, ``threads`` and ``runs`` are thin functions over those queries that return plain
dicts (rows) or typed outcomes.
"""

from app.store.db import Database

__all__ = ["Database"]
