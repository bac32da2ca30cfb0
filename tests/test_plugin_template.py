"""A real third-party plugin: examples/plugin_template, pip-installed (offline) and found via importlib.metadata.

The template and a deliberately broken plugin are installed with pip into a temporary ``--target``
directory (never into the environment); putting that directory on ``sys.path`` is all it takes for
``importlib.metadata`` to discover their ``stitch`` entry points, exactly as for any installed package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

import stitch.registry as registry
import stitch
from stitch.cli import main
from stitch.testing import check_lightweight_registration, check_registered_encoder

TEMPLATE = Path(__file__).resolve().parents[1] / "examples" / "plugin_template"
OUR_MODULES = ("stitch_template", "stitch_broken")

BROKEN_PYPROJECT = """
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "stitch-broken-plugin"
version = "6.6.6"
license = "MIT"

[project.entry-points.stitch]
broken_import = "stitch_broken.not_there"
broken_hook = "stitch_broken.hook"
"""

BROKEN_HOOK = """
from stitch import hookimpl
from stitch.encoder import EncoderSpec

@hookimpl
def stitch_register_encoders(register):
    register(EncoderSpec("half-registered", "text", "never visible", dim=2), lambda: None)
    raise RuntimeError("this plugin is broken on purpose")
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugins")
    template = root / "template"
    # Build from a copy: building in place would leave build/ and *.egg-info in the source tree.
    shutil.copytree(TEMPLATE, template, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    broken = root / "broken"
    (broken / "src" / "stitch_broken").mkdir(parents=True)
    (broken / "pyproject.toml").write_text(textwrap.dedent(BROKEN_PYPROJECT))
    (broken / "src" / "stitch_broken" / "__init__.py").write_text("")
    (broken / "src" / "stitch_broken" / "hook.py").write_text(textwrap.dedent(BROKEN_HOOK))
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--disable-pip-version-check", "--target", str(target), str(template), str(broken)],
        check=True, capture_output=True, text=True, env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    return target


@pytest.fixture
def installed(site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(site))
    for var in ("STITCH_DISABLE_PLUGINS", "STITCH_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    registry.reset_plugins()
    yield site
    registry.reset_plugins()
    for name in [m for m in sys.modules if m.split(".")[0] in OUR_MODULES]:
        del sys.modules[name]


def test_template_is_discovered_listed_and_passes_the_contract(installed, monkeypatch, capsys):
    monkeypatch.setenv("STITCH_PLUGINS", "template")
    record = stitch.get_plugin("template").to_dict()
    assert record.pop("import_seconds") >= 0
    assert record == {
        "name": "template", "distribution": "stitch-plugin-template", "version": "0.1.0",
        "target": "stitch_template.plugin",
        "hooks": ["stitch_register_encoders", "stitch_register_similarities"],
        "status": "ok", "error": None, "registered": {"encoders": 1, "similarities": 1}, "notes": [],
    }
    assert Path(sys.modules["stitch_template"].__file__).is_relative_to(installed)  # the installed copy
    assert stitch.list_encoders("ngram*", modality="text") == ["ngram-hash"]
    spec = stitch.get_encoder_spec("ngram")
    assert (spec.name, spec.plugin, spec.dim) == ("ngram-hash", "template", 32)
    report = check_registered_encoder("ngram-hash")
    assert "order" in report.passed and not report.skipped
    z = stitch.create_encoder("template:ngram", dim=8).encode(["stitching", "stitches", "zebra"])
    assert z.shape == (3, 8)
    assert torch.cosine_similarity(z[0], z[1], dim=0) > torch.cosine_similarity(z[0], z[2], dim=0)
    rel = stitch.relative_projection(z, z[:2], "template:angular")
    torch.testing.assert_close(rel[:2].diagonal(), torch.ones(2), atol=1e-3, rtol=0)

    assert main(["plugins"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(p["name"], p["status"]) for p in listed["plugins"] if p["status"] != "disabled"] == [("template", "ok")]
    assert main(["encoders", "show", "ngram"]) == 0
    assert json.loads(capsys.readouterr().out)["install"] == "pip install stitch-plugin-template"  # its own package


def test_broken_plugin_is_reported_and_everything_else_works(installed, monkeypatch, capsys):
    monkeypatch.setenv("STITCH_PLUGINS", "template,broken_import,broken_hook")
    with pytest.warns(registry.PluginLoadWarning, match="broken_"):
        registry.load_plugins()
    assert stitch.create_encoder("ngram-hash").encode(["still works"]).shape == (1, 32)
    assert stitch.list_encoders("half*") == []  # the broken hook's partial registration was rolled back

    assert main(["plugins", "--check"]) == 1
    records = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert records["template"]["status"] == "ok"
    imp, hook = records["broken_import"], records["broken_hook"]
    assert (imp["status"], imp["distribution"], imp["version"]) == ("broken", "stitch-broken-plugin", "6.6.6")
    assert imp["error"].startswith("import of 'stitch_broken.not_there' failed: ModuleNotFoundError")
    assert hook["status"] == "broken"
    assert hook["error"] == "hook stitch_register_encoders raised RuntimeError: this plugin is broken on purpose"


def test_cli_warns_in_one_line_and_strict_mode_fails(installed, monkeypatch, capsys):
    monkeypatch.setenv("STITCH_PLUGINS", "template,broken_hook")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["encoders", "list", "ngram*"]) == 0
    out, err = capsys.readouterr()
    assert "ngram-hash" in out
    assert err.splitlines() == [
        "stitch: warning: plugin 'broken_hook' from stitch-broken-plugin 6.6.6 failed to load: hook "
        "stitch_register_encoders raised RuntimeError: this plugin is broken on purpose; it was skipped. "
        "Run `stitch plugins` for details."
    ]
    registry.reset_plugins()
    monkeypatch.setenv("STITCH_STRICT_PLUGINS", "1")
    assert main(["encoders", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stitch: error: plugin 'broken_hook' from stitch-broken-plugin 6.6.6 failed to load")
    assert err.endswith("(STITCH_STRICT_PLUGINS is set; unset it to skip broken plugins)\n")


@pytest.mark.slow
def test_console_script_reports_installed_plugins(site):
    script = Path(sys.executable).with_name("stitch")
    assert script.exists(), f"console script not installed at {script}; run `pip install -e .`"
    env = {**os.environ, "PYTHONPATH": str(site), "STITCH_PLUGINS": "template,broken_hook"}
    proc = subprocess.run([str(script), "plugins", "--strict"], capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stderr
    status = {p["name"]: p["status"] for p in json.loads(proc.stdout)["plugins"] if p["status"] != "disabled"}
    assert status == {"template": "ok", "broken_hook": "broken"}
    env["STITCH_PLUGINS"] = "template"
    bad = subprocess.run([str(script), "encoders", "show", "ngram-hsh"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "stitch: error: unknown encoder 'ngram-hsh'; did you mean 'ngram-hash', 'ngram'? Known: 'ngram', 'ngram-hash'. "
        "Run `stitch encoders list` to see them all."
    ]


@pytest.mark.slow
def test_template_registration_is_light_and_offline(site):
    seen = check_lightweight_registration(plugins=["template"], env={"PYTHONPATH": str(site)})
    assert seen["encoders"] == ["ngram-hash"]
    assert [(p["name"], p["status"]) for p in seen["plugins"] if p["status"] != "disabled"] == [("template", "ok")]
