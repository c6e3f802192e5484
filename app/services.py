"""What a web process holds: settings, the graph registry, Postgres, Redis, the broker's actor,
the run waiter and a read-side checkpointer. Stateless: all of it can be rebuilt at any time.
"""

from __future__ import annotations

from dataclasses import dataclass

import dramatiq
import redis
from langgraph.checkpoint.postgres import PostgresSaver

from app.capacity import WEB_DB_POOL_MAX, WEB_POOL_TIMEOUT_SECONDS
from app.config import Settings
from app.graphs import Registry
from app.notify import RunWaiter, make_redis
from app.queue import declare_execute_run, make_broker
from app.store import assistants as assistant_store
from app.store.checkpoints import sync_saver
from app.store.db import Database, Pool
from app.store.vectors import require_vector_extension


@dataclass
class Services:
    settings: Settings
    registry: Registry
    db: Database
    redis: redis.Redis
    actor: dramatiq.Actor
    waiter: RunWaiter
    checkpoint_pool: Pool
    saver: PostgresSaver

    def close(self) -> None:
        """Release pools and connections (tests; gunicorn workers just exit)."""
        self.db.close()
        if self.checkpoint_pool is not self.db.pool:
            self.checkpoint_pool.close()
        self.actor.broker.close()
        self.redis.close()

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Load the registry (fails fast on a bad graph), connect, make sure the default
        assistants exist."""
        registry = Registry.load(settings.config_path)
        if registry.deployment is not None and registry.deployment.store_index is not None:
            require_vector_extension(settings.database_url, registry.path)
        timeout = settings.api_statement_timeout_seconds
        # one pool for the API, its read-side checkpointer and the store (capacity.py: the
        # connection budget); a request that finds it busy gets a fast 503, not a hang
        db = Database(
            settings.database_url,
            min_size=1,
            max_size=WEB_DB_POOL_MAX,
            statement_timeout_seconds=timeout,
            pool_timeout_seconds=WEB_POOL_TIMEOUT_SECONDS,
            fail_fast_when_busy=True,
        )
        assistant_store.ensure_default_assistants(db, registry.ids)
        client = make_redis(settings.redis_url)
        broker = make_broker(settings)
        actor = declare_execute_run(broker, queue_name=settings.queue_name)
        checkpoint_pool = db.pool  # autocommit, dict_row: as LangGraph's saver and store expect
        return cls(
            settings=settings,
            registry=registry,
            db=db,
            redis=client,
            actor=actor,
            waiter=RunWaiter(client),
            checkpoint_pool=checkpoint_pool,
            saver=sync_saver(checkpoint_pool),
        )
