"""``stitch plugins``, ``stitch encoders``, ``stitch datasets`` and the registry listings: output and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import stitch.registry as registry
from stitch import hookimpl
from stitch.cli import build_parser, main
from stitch.data import Dataset
from stitch.encoder import EncoderSpec


def digits_like(*, root=None, n: int = 6) -> Dataset:
    """Six tiny labelled rows."""
    return Dataset("tiny", "tabular", np.eye(n, dtype=np.float32), np.arange(n) % 3, ("a", "b", "c"),
                   tuple(f"t{i}" for i in range(n)), {"train": np.arange(4), "test": np.arange(4, n)})


class CliPlugin:
    @hookimpl
    def stitch_register_encoders(self, register):
        register(EncoderSpec("vit-tiny", "image", "A tiny ViT", dim=192, aliases=("vt",), extra="vision",
                             weights="random init", license="Apache-2.0"), lambda: None)
        register(EncoderSpec("minilm", "text", "MiniLM sentence encoder", extra="text",
                             weights="hf:sentence-transformers/all-MiniLM-L6-v2", license="Apache-2.0"), lambda: None)

    @hookimpl
    def stitch_register_datasets(self, register):
        register("tiny", digits_like, modality="tabular")


@pytest.fixture(autouse=True)
def cli_plugin(monkeypatch):
    monkeypatch.setenv("STITCH_DISABLE_PLUGINS", "1")
    monkeypatch.delenv("STITCH_PLUGINS", raising=False)
    registry.reset_plugins()
    registry.register_plugin(CliPlugin(), "cliplug")
    yield
    registry.reset_plugins()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plugins_prints_json_records(capsys):
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    data = json.loads(out)
    [rec] = [p for p in data["plugins"] if p["name"] == "cliplug"]
    assert rec["status"] == "ok" and rec["error"] is None and rec["distribution"] is None
    assert rec["hooks"] == ["stitch_register_datasets", "stitch_register_encoders"]
    assert rec["registered"] == {"encoders": 2, "datasets": 1}
    assert data["clashes"] == {}


def test_plugins_reports_clashes(capsys):
    class Rival:
        @hookimpl
        def stitch_register_datasets(self, register):
            register("tiny", digits_like, modality="tabular")

    registry.register_plugin(Rival(), "rival")
    assert json.loads(run(capsys, "plugins")[1])["clashes"] == {"datasets": {"tiny": ["cliplug", "rival"]}}
    code, _, err = run(capsys, "datasets", "show", "tiny")
    assert code == 2 and "pick one by its qualified name, e.g. 'cliplug:tiny'" in err


def test_encoders_list_is_a_table_filtered_by_pattern_and_modality(capsys):
    code, out, _ = run(capsys, "encoders", "list")
    assert code == 0
    assert out.splitlines() == [
        "| name | modality | dim | plugin | extra | description |",
        "| --- | --- | --- | --- | --- | --- |",
        "| minilm | text | ? | cliplug | text | MiniLM sentence encoder |",
        "| vit-tiny | image | 192 | cliplug | vision | A tiny ViT |",
    ]
    images = run(capsys, "encoders", "list", "--modality", "image")[1].splitlines()[2:]
    assert [line.split(" | ")[0] for line in images] == ["| vit-tiny"]
    listing = json.loads(run(capsys, "encoders", "list", "v*", "--json")[1])
    assert [s["name"] for s in listing["encoders"]] == ["vit-tiny"] and listing["encoders"][0]["available"] is True
    code, out, err = run(capsys, "encoders", "list", "resnet*")
    assert (code, out) == (0, "")
    assert err == "no encoders match 'resnet*'; run `stitch plugins` to see what is installed\n"


def test_encoders_show_prints_the_spec(capsys):
    code, out, _ = run(capsys, "encoders", "show", "vt")
    assert code == 0
    assert json.loads(out) == {
        "name": "vit-tiny", "modality": "image", "description": "A tiny ViT", "dim": 192, "aliases": ["vt"],
        "extra": "vision", "weights": "random init", "license": "Apache-2.0", "plugin": "cliplug", "options": {},
        "install": "registered in this process by plugin 'cliplug' (needs pip install latent-stitch[vision])",
        "available": True,
    }


def test_unknown_encoder_is_one_line_and_exit_code_2(capsys):
    code, out, err = run(capsys, "encoders", "show", "vit-tiyn")
    assert (code, out) == (2, "")
    assert err == ("stitch: error: unknown encoder 'vit-tiyn'; did you mean 'vit-tiny'? Known: 'minilm', 'vit-tiny', "
                   "'vt'. Run `stitch encoders list` to see them all.\n")


def test_datasets_list_and_show(capsys):
    row = run(capsys, "datasets", "list")[1].splitlines()[2]
    assert row == "| tiny | tabular | cliplug | Six tiny labelled rows. |"
    code, out, _ = run(capsys, "datasets", "show", "tiny", "--load")
    assert code == 0
    shown = json.loads(out)
    assert (shown["samples"], shown["classes"], shown["splits"]) == (6, ["a", "b", "c"], {"train": 4, "test": 2})
    assert len(shown["content_hash"]) == 64
    assert json.loads(run(capsys, "datasets", "show", "cliplug:tiny")[1]) == {
        "name": "tiny", "modality": "tabular", "description": "Six tiny labelled rows.", "plugin": "cliplug"}


def test_core_registries_are_listed_with_their_source(capsys):
    code, out, _ = run(capsys, "similarities", "list", "cos*", "--json")
    assert code == 0 and [(r["name"], r["plugin"]) for r in json.loads(out)] == [("cosine", "builtin")]
    assert run(capsys, "anchors", "list")[0] == 0
    code, out, _ = run(capsys, "metrics", "list")
    assert code == 0 and out.startswith("| name | plugin | kind | range | symmetric | labels | invariances |")
    row = "| procrustes | builtin | distance | [0, 1.57] | yes | no | orthogonal, isotropic_scaling, translation |"
    assert row in out
    # plain text: no reStructuredText literals, norms not escaped; known failure modes named
    assert "``" not in out and "\\|" not in out and "‖Ux^T Uy‖_F^2" in out
    assert "Caveat: depends on how many directions the SVD step keeps" in out
    code, out, _ = run(capsys, "metrics", "list", "stitching_*", "--json")
    (shown,) = json.loads(out)
    assert (shown["name"], shown["needs_labels"], shown["symmetric"], shown["plugin"]) == (
        "stitching_score", True, False, "builtin")


def test_group_without_action_prints_its_help(capsys):
    code, out, _ = run(capsys, "encoders")
    assert code == 0 and out.startswith("usage: stitch encoders")


def test_bad_arguments_exit_2(capsys):
    assert main(["encoders", "list", "--modality"]) == 2
    assert "expected one argument" in capsys.readouterr().err


def test_parser_builds_without_loading_plugins():
    registry.reset_plugins()
    build_parser()
    from stitch.registry.manager import HOST

    assert HOST.loaded is False
