"""``langgraph.json``: every key the official file format has is honoured here or refused by name.

The file (``CALLBOARD_CONFIG``) is read whole once per process by ``Deployment.load``; the graph
registry (``app.graphs.Registry``) takes its ``graphs`` from it. Keys (the langgraph-cli schema,
``langgraph_cli.schemas.Config``):

- ``graphs``: ``{"id": "path/file.py:attr"}`` (``app.graphs``).
- ``env``: a dict of strings, or the path of a ``.env`` file (relative to the file; read with
  python-dotenv). Applied to the process environment *before* the settings are read
  (``apply_env``, called by ``Settings.from_env``); a variable already set in the environment
  wins, so an operator can still override one per process.
- ``dependencies``: a list. A local path (starting with ``.`` or ``/``) must be a directory and is
  put on ``sys.path`` (what the official image's ``pip install -e`` of it makes importable); a
  name is a package that must already be installed in this environment (Callboard builds no image:
  install it with pip).
- ``http.app``: ``"path/file.py:attr"``, a Flask app or Blueprint served beside the API
  (``app.custom_routes``). ``http.cors``: accepted (the CORS settings of the web process).
  Other ``http`` keys are refused by name.
- ``store.index``: ``{"dims", "embed": "path/file.py:fn", "fields"}``: semantic search through
  LangGraph's ``PostgresStore`` index; it needs the ``vector`` extension (pgvector) in Postgres,
  checked at start-up (``app.store.vectors``). ``store.ttl`` is refused (items carry their own
  ``ttl``).
- ``checkpointer.ttl``: ``{"strategy", "sweep_interval_minutes", "default_ttl"}`` (LangGraph's
  names; ``default_ttl`` in minutes): threads created without a TTL get ``default_ttl`` with
  ``strategy``, and the sweeper applies thread TTLs every ``sweep_interval_minutes``.
- ``auth``: ``{"path": "file.py:auth", ...}``: accepted (``langgraph_sdk.auth.Auth``).
- ``tasks``: a list of task module paths: accepted.

Any other key (``python_version``, ``dockerfile_lines`` … build keys of the official image, or a
typo) stops start-up with ``ConfigurationError`` naming it: nothing is ignored without a word.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import ConfigurationError

TOP_LEVEL_KEYS = frozenset(
    {"$schema", "graphs", "env", "dependencies", "http", "store", "checkpointer", "auth", "tasks"}
)
HTTP_KEYS = frozenset({"app", "cors"})
STORE_KEYS = frozenset({"index"})
CHECKPOINTER_KEYS = frozenset({"ttl"})
INDEX_KEYS = frozenset({"dims", "embed", "fields"})
CHECKPOINTER_TTL_KEYS = frozenset({"strategy", "sweep_interval_minutes", "default_ttl"})
TTL_STRATEGIES = ("delete", "keep_latest")
BUILD_KEYS = frozenset(
    {
        "python_version",
        "node_version",
        "pip_config_file",
        "pip_installer",
        "dockerfile_lines",
        "image_distro",
        "base_image",
        "keep_pkg_tools",
        "api_version",
    }
)


@dataclass(frozen=True)
class CheckpointerTtl:
    """``checkpointer.ttl``: ``default_ttl`` minutes for threads created without a TTL, applied
    with ``strategy`` (``delete`` | ``keep_latest``); the sweeper's TTL job runs every
    ``sweep_interval_minutes`` (LangGraph's default: 5)."""

    strategy: str = "delete"
    default_ttl: float | None = None
    sweep_interval_minutes: float = 5.0
    given: frozenset[str] = frozenset()  # the keys the file set


@dataclass(frozen=True)
class Deployment:
    """The parsed ``langgraph.json``; ``base`` is its directory (relative paths start there)."""

    path: Path
    graphs: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    dependencies: tuple[str, ...] = ()
    http: dict[str, Any] = field(default_factory=dict)
    store_index: dict[str, Any] | None = None
    checkpointer_ttl: CheckpointerTtl | None = None
    auth: dict[str, Any] | None = None
    tasks: tuple[str, ...] = ()
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def base(self) -> Path:
        return self.path.parent

    @property
    def http_app(self) -> str | None:
        return self.http.get("app")

    @property
    def http_cors(self) -> dict[str, Any] | None:
        return self.http.get("cors")

    @classmethod
    def load(cls, path: str | Path) -> Deployment:
        """Read and check the whole file.

        Raises:
            ConfigurationError: missing file, not JSON, no ``graphs``, an unknown or unsupported
                key (named), or a key whose value has the wrong shape.
        """
        config_path = Path(path).resolve()
        try:
            document = json.loads(config_path.read_text())
        except FileNotFoundError:
            raise ConfigurationError(f"graph registry not found: {config_path}") from None
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"graph registry {config_path} is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ConfigurationError(f"{config_path} must hold a JSON object")
        where = str(config_path)
        _refuse_unknown(document, TOP_LEVEL_KEYS, "", where)
        graphs = document.get("graphs")
        if not isinstance(graphs, dict) or not graphs:
            raise ConfigurationError(f'{config_path} has no "graphs" object')
        http = _section(document, "http", HTTP_KEYS, where)
        if "app" in http and not _is_source(http["app"]):
            raise ConfigurationError(
                f"http.app in {where}: expected 'file.py:attr', got {http['app']!r}"
            )
        if "cors" in http and not isinstance(http["cors"], dict):
            raise ConfigurationError(f"http.cors in {where} must be an object")
        store = _section(document, "store", STORE_KEYS, where)
        auth = document.get("auth")
        if auth is not None and not isinstance(auth, dict):
            raise ConfigurationError(f"auth in {where} must be an object")
        return cls(
            path=config_path,
            graphs=graphs,
            env=_env(document.get("env"), config_path.parent, where),
            dependencies=tuple(_strings(document.get("dependencies", []), "dependencies", where)),
            http=http,
            store_index=_index(store.get("index"), where),
            checkpointer_ttl=_checkpointer_ttl(
                _section(document, "checkpointer", CHECKPOINTER_KEYS, where).get("ttl"), where
            ),
            auth=auth,
            tasks=tuple(_strings(document.get("tasks", []), "tasks", where)),
            document=document,
        )

    def resolve(self, relative: str) -> Path:
        """A path of the file, made absolute from its directory."""
        return (self.base / relative).resolve()

    def add_dependencies(self) -> None:
        """Put the local ``dependencies`` on ``sys.path`` (the file's own directory always is:
        ``"dependencies": ["."]``) and check that the named packages are installed.

        Raises:
            ConfigurationError: a local path that is not a directory, or a package not installed.
        """
        paths = [self.base]
        for entry in self.dependencies:
            if entry.startswith((".", "/")):
                directory = self.resolve(entry)
                if not directory.is_dir():
                    raise ConfigurationError(
                        f"dependency {entry!r} in {self.path} is not a directory ({directory})"
                    )
                paths.append(directory)
                continue
            name = entry.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip()
            try:
                importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                raise ConfigurationError(
                    f"dependency {entry!r} in {self.path} is not installed: Callboard builds no "
                    f"image, install it in this environment (pip install {entry!r})"
                ) from None
        for directory in reversed(paths):
            if str(directory) not in sys.path:
                sys.path.insert(0, str(directory))


def apply_env(config_path: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Apply the ``env`` of the ``langgraph.json`` at ``config_path`` to ``os.environ``: each
    variable not already set is set. Returns what was set. A missing file sets nothing (the
    registry's own load reports it).

    Raises:
        ConfigurationError: the file is malformed, or ``env`` names a missing ``.env`` file.
    """
    if not Path(config_path).exists():
        return {}
    deployment = Deployment.load(config_path)
    target = os.environ if environ is None else environ
    applied = {k: v for k, v in deployment.env.items() if k not in target}
    if environ is None:
        os.environ.update(applied)
    return applied


def _refuse_unknown(
    section: dict[str, Any], known: frozenset[str], prefix: str, where: str
) -> None:
    for key in section:
        if key in known:
            continue
        name = f"{prefix}{key}"
        if not prefix and key in BUILD_KEYS:
            raise ConfigurationError(
                f"{name!r} in {where} is a build key of the official server's image; Callboard "
                "runs in this Python environment and builds no image: remove it"
            )
        raise ConfigurationError(
            f"{name!r} in {where} is not supported by Callboard (supported here: "
            f"{', '.join(prefix + k for k in sorted(known))})"
        )


def _section(document: dict[str, Any], name: str, known: frozenset[str], where: str) -> dict:
    section = document.get(name) or {}
    if not isinstance(section, dict):
        raise ConfigurationError(f"{name} in {where} must be an object")
    _refuse_unknown(section, known, f"{name}.", where)
    return section


def _is_source(value: Any) -> bool:
    return isinstance(value, str) and ":" in value


def _strings(value: Any, name: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(f"{name} in {where} must be a list of strings")
    return value


def _env(value: Any, base: Path, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, dict):
        bad = [k for k, v in value.items() if not isinstance(v, str | int | float | bool)]
        if bad:
            raise ConfigurationError(f"env in {where}: values must be strings (bad: {bad})")
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str):
        from dotenv import dotenv_values

        env_file = (base / value).resolve()
        if not env_file.is_file():
            raise ConfigurationError(
                f"env in {where} names {value!r}, which does not exist ({env_file})"
            )
        return {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    raise ConfigurationError(f"env in {where} must be an object or the path of a .env file")


def _index(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigurationError(f"store.index in {where} must be an object")
    _refuse_unknown(value, INDEX_KEYS, "store.index.", where)
    dims = value.get("dims")
    if not isinstance(dims, int) or isinstance(dims, bool) or dims <= 0:
        raise ConfigurationError(f"store.index.dims in {where} must be a positive integer")
    if not _is_source(value.get("embed")):
        raise ConfigurationError(
            f"store.index.embed in {where}: expected the path of an embedding function "
            f"('file.py:embed'), got {value.get('embed')!r}"
        )
    fields = value.get("fields", ["$"])
    _strings(fields, "store.index.fields", where)
    return {"dims": dims, "embed": value["embed"], "fields": fields}


def _checkpointer_ttl(value: Any, where: str) -> CheckpointerTtl | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigurationError(f"checkpointer.ttl in {where} must be an object")
    _refuse_unknown(value, CHECKPOINTER_TTL_KEYS, "checkpointer.ttl.", where)
    strategy = value.get("strategy", "delete")
    if strategy not in TTL_STRATEGIES:
        raise ConfigurationError(
            f"checkpointer.ttl.strategy in {where} must be one of {TTL_STRATEGIES}, got "
            f"{strategy!r}"
        )
    numbers = {}
    for key in ("default_ttl", "sweep_interval_minutes"):
        number = value.get(key)
        if number is None:
            continue
        if not isinstance(number, int | float) or isinstance(number, bool) or number <= 0:
            raise ConfigurationError(
                f"checkpointer.ttl.{key} in {where} must be a positive number of minutes"
            )
        numbers[key] = float(number)
    return CheckpointerTtl(strategy=strategy, given=frozenset(value), **numbers)
