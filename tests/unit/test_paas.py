"""The files a PaaS reads: the Python buildpack's (requirements.txt, .python-version), app.json
(process types, add-ons, environment) and the Procfile they refer to."""

from __future__ import annotations

import json
import re
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from app.config import Settings
from tests.support import ROOT


def procfile_types() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_requirements_pin_every_dependency_within_pyproject_ranges():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[-1] == "."  # Callboard itself, from pyproject.toml
    pins = {}
    for line in lines[:-1]:
        name, _, version = line.partition("==")
        assert version, f"not pinned: {line}"
        pins[canonicalize_name(name)] = version
    for dependency in project["dependencies"]:
        req = Requirement(dependency)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in requirements.txt: make requirements"
        assert req.specifier.contains(pins[name], prereleases=True), (req, pins[name])


def test_python_version_file_matches_the_project_and_ci():
    version = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", version)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(version + ".0")
    assert version == f"{sys.version_info.major}.{sys.version_info.minor}"  # what CI tests


def test_app_json_has_the_process_types_and_add_ons():
    manifest = json.loads((ROOT / "app.json").read_text())
    types = procfile_types()
    assert set(types) == {"release", "web", "worker", "sweeper"}
    # release runs at each deploy (migrations); the others are scaled
    assert set(manifest["formation"]) == {"web", "worker", "sweeper"}
    assert types["release"] == "python -m migrations"
    assert "${PORT" in types["web"]
    plans = {addon["plan"].split(":")[0] for addon in manifest["addons"]}
    assert plans == {"heroku-postgresql", "heroku-redis"}
    assert {addon["as"] for addon in manifest["addons"]} == {"DATABASE", "REDIS"}  # *_URL


def test_app_json_environment_is_valid_settings():
    env = {k: v["value"] for k, v in json.loads((ROOT / "app.json").read_text())["env"].items()}
    settings = Settings.from_env(
        {**env, "REDIS_URL": "rediss://:secret@redis.example:6380", "DATABASE_URL": "postgres://u@h/d"}
    )
    # a managed Redis' self-signed certificate is accepted, Postgres' URL passes as given
    assert settings.redis_url.endswith("?ssl_cert_reqs=none")
    assert settings.database_url == "postgres://u@h/d"
    assert settings.log_format == "json"
    assert (ROOT / settings.config_path).exists()
