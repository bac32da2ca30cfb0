"""The built-in adapters are ordinary plugins: declared in our pyproject.toml, found through the installed
entry points, loaded without errors, light to list, and every encoder they register passes the contract kit.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import registry
from stitch.testing import check_lightweight_registration, check_registered_encoder, encoder_params

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
DECLARED: dict[str, str] = tomllib.loads(PYPROJECT.read_text())["project"].get("entry-points", {}).get("stitch", {})


@pytest.fixture(autouse=True)
def all_installed_plugins(monkeypatch):
    for var in ("STITCH_PLUGINS", "STITCH_DISABLE_PLUGINS", "STITCH_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    registry.reset_plugins()
    yield
    registry.reset_plugins()


def _builtin_encoder_params() -> list:
    # Collected with the installed plugins; names are qualified so a third-party clash cannot redirect them.
    return [p for plugin in sorted(DECLARED) for p in encoder_params(f"{plugin}:*", marks=[pytest.mark.slow])]


def test_installed_entry_points_match_pyproject():
    ours = [ep for ep in entry_points(group="stitch") if ep.dist.metadata["Name"] == "latent-stitch"]
    installed = {ep.name: ep.value for ep in ours}
    assert installed == DECLARED, (
        "the installed metadata is stale: reinstall with `pip install -e . --no-deps --no-build-isolation`"
    )


def test_builtin_plugins_load_without_errors():
    records = {r.name: r for r in registry.plugin_status() if r.name in DECLARED}
    assert sorted(records) == sorted(DECLARED)
    broken = {name: r.error for name, r in records.items() if not r.ok}
    assert broken == {}
    assert all(r.distribution == "latent-stitch" for r in records.values())


def test_builtin_registration_is_light_and_offline():
    seen = check_lightweight_registration(plugins=sorted(DECLARED))
    assert {p["name"] for p in seen["plugins"] if p["status"] == "ok"} == set(DECLARED)


@pytest.mark.parametrize("name", _builtin_encoder_params())
def test_builtin_encoder_honours_the_contract(name):
    check_registered_encoder(name)
