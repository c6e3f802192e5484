"""``langgraph.json`` ``store.index`` honoured where Postgres has pgvector.

The machine's PostgreSQL 15 (Debian 12) has no pgvector package, so this test runs a throwaway
PostgreSQL 16 with pgvector from the ``pgserver`` wheel on PyPI (its ``pginstall/bin``): the
migrations create the store's vector table, the worker's store embeds what a graph writes, the
web's store embeds what the API puts, and ``query`` ranks items by similarity.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from migrations import apply_all
from migrations.__main__ import store_index
from tests.support import PostgresCluster, Stack

UNIT = Path(__file__).resolve().parent.parent / "unit" / "deployment"
GRAPHS = Path(__file__).resolve().parent.parent / "graphs"


@pytest.fixture
def pgvector_cluster():
    """PostgreSQL 16 + pgvector from the ``pgserver`` wheel, copied out of the venv first: the
    server runs as the ``postgres`` user, who may not be able to reach a clone's venv."""
    spec = importlib.util.find_spec("pgserver")  # not imported: only its files are used
    assert spec and spec.origin, "the pgserver package (test dependency) is not installed"
    package = Path(spec.origin).parent
    install = Path(tempfile.mkdtemp(prefix="callboard-pgvector-"))
    install.chmod(0o755)
    # the binaries find their libraries at $ORIGIN/../../../pgserver.libs (auditwheel's layout)
    shutil.copytree(package / "pginstall", install / "pgserver" / "pginstall", symlinks=True)
    shutil.copytree(package.parent / "pgserver.libs", install / "pgserver.libs", symlinks=True)
    cluster = PostgresCluster(install / "pgserver" / "pginstall" / "bin").start()
    yield cluster
    cluster.destroy()
    shutil.rmtree(install, ignore_errors=True)


def test_semantic_search_through_the_store_index(pgvector_cluster, settings, tmp_path):
    config = tmp_path / "langgraph.json"
    config.write_text(
        json.dumps(
            {
                "graphs": {"memory": f"{GRAPHS / 'memory.py'}:memory"},
                "store": {"index": {"dims": 3, "embed": f"{UNIT / 'embed.py'}:embed"}},
            }
        )
    )

    with psycopg.connect(pgvector_cluster.url(), autocommit=True) as conn:
        conn.execute('CREATE DATABASE "callboard"')
    url = pgvector_cluster.url("callboard")
    vector_settings = dataclasses.replace(settings, database_url=url, config_path=str(config))
    apply_all(url, store_index(vector_settings))
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'").fetchone()

    stack = Stack(vector_settings, tmp_path)
    try:
        web = stack.web()
        stack.worker()
        with httpx.Client(base_url=web.url, timeout=60) as http:
            # the worker's store embeds what the graph writes
            for key, fact in (("a", "the dog barked"), ("b", "a cat and another cat")):
                run = http.post(
                    "/runs/wait",
                    json={"assistant_id": "memory",
                          "input": {"user": "ada", "key": key, "fact": fact}},
                )  # fmt: skip
                assert run.status_code == 200, run.text
            # the web's store embeds what the API puts
            put = http.put(
                "/store/items",
                json={"namespace": ["memories", "ada"], "key": "c", "value": {"fact": "dog dog"}},
            )
            assert put.status_code == 204, put.text
            found = http.post(
                "/store/items/search",
                json={"namespace_prefix": ["memories", "ada"], "query": "cat", "limit": 3},
            ).json()["items"]
            assert [item["key"] for item in found][0] == "b"
            assert all(isinstance(item["score"], float) for item in found)
            dogs = http.post(
                "/store/items/search",
                json={"namespace_prefix": ["memories", "ada"], "query": "dog", "limit": 3},
            ).json()["items"]
            assert {item["key"] for item in dogs[:2]} == {"a", "c"}
    finally:
        stack.stop_all()
        redis.Redis.from_url(settings.redis_url).flushdb()
