"""Settings from the environment: defaults, parsing, and refusals."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.errors import ConfigurationError


def test_defaults_match_the_documented_contract():
    s = Settings.from_env({})
    assert s.n_jobs_per_worker == 10
    assert s.heartbeat_seconds == 30
    assert s.sweep_interval_seconds == 120
    assert s.shutdown_grace_seconds == 30
    assert s.max_attempts == 3
    assert s.run_timeout_seconds == 3600


def test_values_are_read_and_durations_may_be_fractions():
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://db/x",
            "REDIS_URL": "redis://r/2",
            "N_JOBS_PER_WORKER": "4",
            "HEARTBEAT_SECONDS": "0.5",
            "SHUTDOWN_GRACE_SECONDS": "0",
            "MAX_ATTEMPTS": "5",
        }
    )
    assert (s.database_url, s.redis_url) == ("postgresql://db/x", "redis://r/2")
    assert (s.n_jobs_per_worker, s.heartbeat_seconds, s.max_attempts) == (4, 0.5, 5)
    assert s.shutdown_grace_seconds == 0


@pytest.mark.parametrize(
    "name, value",
    [
        ("N_JOBS_PER_WORKER", "ten"),
        ("N_JOBS_PER_WORKER", "0"),
        ("HEARTBEAT_SECONDS", "-1"),
        ("SWEEP_INTERVAL_SECONDS", "soon"),
        ("MAX_ATTEMPTS", "0"),
        ("RUN_TIMEOUT_SECONDS", "0"),
    ],
)
def test_invalid_values_are_refused_with_the_variable_named(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


def test_request_limits_and_api_keys_are_read():
    s = Settings.from_env(
        {
            "CALLBOARD_MAX_STREAMS": "7",
            "CALLBOARD_MAX_BATCH_RUNS": "3",
            "CALLBOARD_MAX_JSON_DEPTH": "20",
            "CALLBOARD_API_STATEMENT_TIMEOUT_SECONDS": "2.5",
            "CALLBOARD_API_KEYS": "k1, k2",
        }
    )
    assert (s.max_streams, s.max_batch_runs, s.max_json_depth) == (7, 3, 20)
    assert s.api_statement_timeout_seconds == 2.5
    assert s.api_keys == ("k1", "k2")
    defaults = Settings.from_env({})
    assert (defaults.max_streams, defaults.max_batch_runs, defaults.max_json_depth) == (
        200,
        100,
        100,
    )
    assert defaults.api_statement_timeout_seconds == 30 and defaults.api_keys == ()
    with pytest.raises(ConfigurationError):
        Settings.from_env({"CALLBOARD_MAX_STREAMS": "0"})
