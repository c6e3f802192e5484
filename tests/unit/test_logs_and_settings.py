"""The operations settings (logs, CORS, rediss, metrics directory) and the logging
configuration: JSON lines with a run's fields, levels, the quieted APScheduler executor."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import redis

from app import logs
from app.config import Settings
from app.errors import ConfigurationError


def test_operations_defaults():
    s = Settings.from_env({})
    assert (s.log_level, s.log_format, s.access_log) == ("INFO", "text", True)
    assert s.cors_allow_origins == ("*",) and s.cors_config is None
    assert s.redis_ssl_cert_reqs == "required" and s.prometheus_multiproc_dir is None


def test_operations_values_are_read():
    s = Settings.from_env(
        {
            "LOG_LEVEL": "warning",
            "LOG_FORMAT": "JSON",
            "CALLBOARD_ACCESS_LOG": "0",
            "CORS_ALLOW_ORIGINS": "https://a.example, https://b.example",
            "CORS_CONFIG": '{"allow_origins": ["https://c.example"]}',
            "PROMETHEUS_MULTIPROC_DIR": "/tmp/m",
        }
    )
    assert (s.log_level, s.log_format, s.access_log) == ("WARNING", "json", False)
    assert s.cors_allow_origins == ("https://a.example", "https://b.example")
    assert s.cors_config == {"allow_origins": ["https://c.example"]}
    assert s.prometheus_multiproc_dir == "/tmp/m"


@pytest.mark.parametrize(
    "name, value",
    [
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("CALLBOARD_ACCESS_LOG", "maybe"),
        ("CORS_CONFIG", "{not json"),
        ("CORS_CONFIG", "[1]"),
        ("REDIS_SSL_CERT_REQS", "sometimes"),
    ],
)
def test_bad_operations_values_are_refused_with_their_name(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


def test_rediss_gets_the_tls_options_of_a_managed_redis():
    plain = Settings.from_env({"REDIS_URL": "redis://h:6379/1"})
    assert plain.redis_url == "redis://h:6379/1"
    default = Settings.from_env({"REDIS_URL": "rediss://:pw@h:6380/0"})
    assert default.redis_url == "rediss://:pw@h:6380/0?ssl_cert_reqs=required"
    heroku = Settings.from_env(
        {
            "REDIS_URL": "rediss://:pw@h:6380/0",
            "REDIS_SSL_CERT_REQS": "none",
            "REDIS_SSL_CA_CERTS": "/etc/ca.pem",
        }
    )
    kwargs = redis.Redis.from_url(heroku.redis_url).connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] == "none" and kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    assert redis.Redis.from_url(heroku.redis_url).connection_pool.connection_class is (
        redis.connection.SSLConnection
    )
    # a parameter already in the URL wins
    given = Settings.from_env(
        {"REDIS_URL": "rediss://h/0?ssl_cert_reqs=optional", "REDIS_SSL_CERT_REQS": "none"}
    )
    assert "ssl_cert_reqs=optional" in given.redis_url and "none" not in given.redis_url


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    levels = {n: logging.getLogger(n).level for n in (*logs.OWN_LOGGERS, "apscheduler.executors")}
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_json_lines_carry_the_run_fields(restore_logging, capsys):
    logs.configure(Settings.from_env({"LOG_FORMAT": "json"}))
    log = logging.getLogger("workers.actors.execute_run")
    with logs.run_context(run_id="r-1"):
        with logs.run_context(thread_id="t-1", graph_id="g", attempt=2):
            log.info("run %r: %s", "r-1", "success", extra={"duration": 1.25})
        log.warning("outside the inner block")
    log.info("no run")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 3
    first = lines[0]
    assert first["message"] == "run 'r-1': success"
    assert (first["level"], first["logger"]) == ("INFO", "workers.actors.execute_run")
    assert {k: first[k] for k in ("run_id", "thread_id", "graph_id", "attempt", "duration")} == {
        "run_id": "r-1",
        "thread_id": "t-1",
        "graph_id": "g",
        "attempt": 2,
        "duration": 1.25,
    }
    assert "time" in first and "process" in first
    assert lines[1]["run_id"] == "r-1" and "thread_id" not in lines[1]
    assert "run_id" not in lines[2]


def test_log_level_and_the_quiet_scheduler(restore_logging, capsys):
    logs.configure(Settings.from_env({"LOG_LEVEL": "WARNING"}))
    logging.getLogger("app.x").info("hidden")
    logging.getLogger("dramatiq.x").info("hidden too")
    logging.getLogger("sweeper").warning("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err and "shown" in err
    logs.configure(Settings.from_env({}))
    logging.getLogger("apscheduler.executors.default").info('Running job "crons"')
    logging.getLogger("apscheduler.scheduler").info('Added job "crons"')
    err = capsys.readouterr().err
    assert "Running job" not in err and 'Added job "crons"' in err
    logs.configure(Settings.from_env({"LOG_LEVEL": "DEBUG"}))
    logging.getLogger("apscheduler.executors.default").info('Running job "crons"')
    logging.getLogger("workers.x").debug("claim dropped")
    logging.getLogger("psycopg.pool").debug("library debug")
    err = capsys.readouterr().err
    assert "Running job" in err and "claim dropped" in err and "library debug" not in err
