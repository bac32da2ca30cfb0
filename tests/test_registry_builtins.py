"""The built-in adapters are ordinary plugins: declared in our pyproject.toml, found through the installed
entry points, loaded without errors, light to list, and every encoder they register passes the contract kit.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import stitch.registry as registry
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


def test_listing_shows_closed_sets_recommended_models_and_open_families():
    from stitch.plugins import list_encoder_families, list_encoders

    names = set(list_encoders())
    assert {"minilm", "text-bag", "pyg:gcn", "pyg:sage", "pyg:gat", "pyg:gin", "timm:resnet10t", "timm:resnet18",
            "timm:vit_tiny_patch16_224"} <= names
    from stitch.plugins import get_encoder_family

    families = [get_encoder_family(p.partition(":")[0]) for p in list_encoder_families()]
    assert {(f.pattern, f.plugin) for f in families} >= {
        ("timm:<model>", "timm"), ("hf:<model id or dir>", "transformers"), ("file:<path.safetensors>", "precomputed"),
        ("trained:<path.safetensors>", "trained")}


def test_unlisted_family_names_still_resolve_and_misspellings_are_explained():
    from stitch.errors import UnknownNameError
    from stitch.plugins import get_encoder_spec

    assert get_encoder_spec("timm:resnet34").plugin == "timm"
    with pytest.raises(UnknownNameError, match=r"unknown graph architecture 'pyg:gnc'; did you mean 'pyg:gin'\?"):
        get_encoder_spec("pyg:gnc")


def test_recommended_timm_models_exist_with_the_listed_dim():
    import timm

    from stitch.adapters.vision import RECOMMENDED

    assert len(RECOMMENDED) >= 3, RECOMMENDED
    for name, dim in RECOMMENDED.items():
        assert timm.create_model(name, pretrained=False, num_classes=0).num_features == dim, name
