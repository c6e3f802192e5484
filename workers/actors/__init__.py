"""Actor bodies. Each is idempotent: a duplicate or stale message does nothing."""
