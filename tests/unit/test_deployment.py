"""``langgraph.json``: every key honoured or refused by name (``app.deployment``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from app.config import Settings
from app.custom_routes import CustomRoutes, load_user_app
from app.deployment import CheckpointerTtl, Deployment, apply_env
from app.errors import ConfigurationError
from app.graphs import Registry

HERE = Path(__file__).parent / "deployment"
KINDS = str(Path(__file__).parent / "graphs" / "kinds.py")


def write(tmp_path: Path, **keys: object) -> str:
    document = {"graphs": {"plain": f"{KINDS}:plain"}, **keys}
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"graps": {}}, "'graps'"),
        ({"python_version": "3.11"}, "'python_version'"),
        ({"http": {"disable_runs": True}}, "'http.disable_runs'"),
        ({"store": {"ttl": {"default_ttl": 5}}}, "'store.ttl'"),
        ({"checkpointer": {"serde": {}}}, "'checkpointer.serde'"),
        ({"checkpointer": {"ttl": {"strategy": "delete", "every": 5}}}, "'checkpointer.ttl.every'"),
        ({"store": {"index": {"dims": 2, "embed": "e.py:f", "model": "x"}}}, "'store.index.model'"),
    ],
)
def test_an_unknown_key_stops_start_up_with_its_name(tmp_path, keys, named):
    with pytest.raises(ConfigurationError, match=named):
        Registry.load(write(tmp_path, **keys))


def test_build_keys_of_the_official_image_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ConfigurationError, match="builds no image"):
        Deployment.load(write(tmp_path, dockerfile_lines=["RUN true"]))


def test_every_supported_key_is_accepted(tmp_path):
    (tmp_path / ".env").write_text("A=1\n")
    deployment = Deployment.load(
        write(
            tmp_path,
            **{
                "$schema": "https://langgra.ph/schema.json",
                "env": ".env",
                "dependencies": ["."],
                "http": {"app": f"{HERE / 'user_app.py'}:app", "cors": {"allow_origins": ["*"]}},
                "store": {"index": {"dims": 2, "embed": f"{HERE / 'embed.py'}:embed"}},
                "checkpointer": {"ttl": {"strategy": "delete", "default_ttl": 60}},
                "auth": {"path": "./auth.py:auth"},
                "tasks": ["my_tasks.emails"],
            },
        )
    )
    assert deployment.env == {"A": "1"}
    assert deployment.http_cors == {"allow_origins": ["*"]}
    assert deployment.store_index == {
        "dims": 2,
        "embed": f"{HERE / 'embed.py'}:embed",
        "fields": ["$"],
    }
    assert deployment.checkpointer_ttl == CheckpointerTtl(
        strategy="delete", default_ttl=60.0, given=frozenset({"strategy", "default_ttl"})
    )
    assert deployment.auth == {"path": "./auth.py:auth"}
    assert deployment.tasks == ("my_tasks.emails",)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"env": ["A=1"]}, "env .* must be an object or the path"),
        ({"env": "missing.env"}, "'missing.env', which does not exist"),
        ({"dependencies": "."}, "dependencies .* list of strings"),
        ({"http": {"app": "no_colon"}}, "http.app .* expected 'file.py:attr'"),
        ({"store": {"index": {"dims": 0, "embed": "e.py:f"}}}, "dims .* positive integer"),
        ({"store": {"index": {"dims": 3, "embed": "openai-small"}}}, "embedding function"),
        ({"checkpointer": {"ttl": {"strategy": "archive"}}}, "strategy .* must be one of"),
        ({"checkpointer": {"ttl": {"default_ttl": -1}}}, "default_ttl .* positive number"),
        ({"tasks": [1]}, "tasks .* list of strings"),
    ],
)
def test_a_malformed_value_is_refused_clearly(tmp_path, keys, message):
    with pytest.raises(ConfigurationError, match=message):
        Deployment.load(write(tmp_path, **keys))


def test_env_dict_is_applied_before_settings_are_read(tmp_path, monkeypatch):
    path = write(tmp_path, env={"N_JOBS_PER_WORKER": "7", "CALLBOARD_TEST_FROM_ENV": "yes"})
    monkeypatch.setenv("CALLBOARD_CONFIG", path)
    monkeypatch.delenv("N_JOBS_PER_WORKER", raising=False)
    monkeypatch.delenv("CALLBOARD_TEST_FROM_ENV", raising=False)
    try:
        settings = Settings.from_env()
        assert settings.n_jobs_per_worker == 7
        assert os.environ["CALLBOARD_TEST_FROM_ENV"] == "yes"
    finally:
        os.environ.pop("N_JOBS_PER_WORKER", None)
        os.environ.pop("CALLBOARD_TEST_FROM_ENV", None)


def test_env_file_is_read_with_dotenv_and_the_process_environment_wins(tmp_path, monkeypatch):
    (tmp_path / "prod.env").write_text(
        '# comment\nMAX_ATTEMPTS=5\nexport RUN_TIMEOUT_SECONDS="90"\n'
    )
    path = write(tmp_path, env="prod.env")
    monkeypatch.setenv("MAX_ATTEMPTS", "2")
    assert apply_env(path, environ=dict(os.environ)) == {"RUN_TIMEOUT_SECONDS": "90"}


def test_dependencies_put_local_directories_on_sys_path(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "shared_lib", raising=False)
    path = tmp_path / "langgraph.json"
    path.write_text(
        json.dumps(
            {
                "dependencies": [str(HERE / "vendored")],
                "graphs": {"answer": f"{HERE / 'graph_using_dependency.py'}:answer"},
            }
        )
    )
    registry = Registry.load(str(path))
    assert registry.get("answer").graph.invoke({}) == {"answer": 42}
    assert str(HERE / "vendored") in sys.path


def test_dependencies_refuse_a_missing_directory_or_package(tmp_path):
    with pytest.raises(ConfigurationError, match="'./nowhere' .* not a directory"):
        Registry.load(write(tmp_path, dependencies=["./nowhere"]))
    with pytest.raises(ConfigurationError, match="'no-such-package-xyz' .* is not installed"):
        Registry.load(write(tmp_path, dependencies=["no-such-package-xyz"]))
    Registry.load(write(tmp_path, dependencies=["flask", "langgraph>=1.0"]))  # installed: fine


def test_http_app_must_be_a_flask_app_or_blueprint():
    assert load_user_app("user_app.py:app", HERE).name == "user_app"
    blueprint_app = load_user_app("user_app.py:blueprint", HERE)
    assert "user_blueprint.custom" in blueprint_app.view_functions
    with pytest.raises(
        ConfigurationError, match="is a dict; .* flask.Flask app or a flask.Blueprint"
    ):
        load_user_app("user_app.py:not_an_app", HERE)


def test_the_users_routes_win_and_the_api_keeps_the_rest():
    from werkzeug.test import EnvironBuilder

    dispatcher = CustomRoutes(lambda e, s: [], load_user_app("user_app.py:app", HERE))

    def routed_to_user(method: str, path: str) -> bool:
        return dispatcher.routes(EnvironBuilder(method=method, path=path).get_environ())

    assert routed_to_user("GET", "/hello")
    assert routed_to_user("GET", "/info")  # the user's app shadows the API's route
    assert routed_to_user("GET", "/threads")
    assert not routed_to_user("POST", "/threads")  # a method the user's app does not route
    assert not routed_to_user("GET", "/runs")


def test_migrations_and_sweeper_need_no_registry(tmp_path):
    from migrations.__main__ import store_index
    from sweeper.__main__ import ttl_interval_seconds

    settings = Settings(config_path=str(tmp_path / "missing.json"), sweep_interval_seconds=9)
    assert store_index(settings) is None
    assert ttl_interval_seconds(settings) == 9
