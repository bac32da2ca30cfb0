"""Audit files: the experiment files' encoder syntax, every form normalised to one, errors with field paths, and
datasets with options (folder datasets) reachable from every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stitch.audits.config import load_audit, parse_audit
from stitch.cli import main
from stitch.encoder.refs import DatasetRef, EncoderRef
from stitch.errors import ConfigError

BASE = {"dataset": "trec", "out": "runs/a"}


def test_every_encoder_form_gives_the_same_references() -> None:
    forms = [
        ["minilm", "minilm?layer=3"],
        "minilm,minilm?layer=3",
        [{"name": "minilm"}, {"name": "minilm", "options": {"layer": 3}}],
        {"minilm": "minilm", "minilm?layer=3": {"name": "minilm", "options": {"layer": 3}}},
    ]
    refs = [parse_audit({**BASE, "encoders": f}).references for f in forms]
    assert refs == [{"minilm": "minilm", "minilm?layer=3": "minilm?layer=3"}] * 4
    assert parse_audit({**BASE, "encoders": {"L6": "minilm", "L3": "minilm?layer=3"}}).references == {
        "L6": "minilm", "L3": "minilm?layer=3"}


def test_strings_and_tables_are_one_syntax_for_encoders_and_datasets() -> None:
    assert EncoderRef.model_validate("hf:x?layer=2&pooling=cls") == EncoderRef(name="hf:x", options={
        "layer": 2, "pooling": "cls"})
    cfg = parse_audit({**BASE, "encoders": ["a", "b"], "dataset": "text-folder?path=docs",
                       "metrics": "linear_cka, mutual_knn", "layers": "0,2", "split": "all", "cache": "/c"})
    assert cfg.dataset == DatasetRef(name="text-folder", options={"path": "docs"})
    assert (cfg.metrics, cfg.layers, cfg.split_name, cfg.cache_root) == (["linear_cka", "mutual_knn"], [0, 2], None,
                                                                         "/c")


@pytest.mark.parametrize(("changes", "match"), [
    ({"encoders": [{"name": "a"}, {"name": "b", "layer": 3}]},
     r"encoders\[1\]\.layer: unknown field \(did you mean 'label'\?\); allowed here: label, name, options"),
    ({"confidence": 1.5}, r"confidence: Input should be less than 1"),
    ({"color_range": "fixed"}, r"color_range: got 'fixed'; input should be 'data' or 'declared'"),
    ({"permutatons": 10}, r"permutatons: unknown field \(did you mean 'permutations'\?\)"),
    ({"encoders": ["a", "a"]}, r"\(top level\): encoders must be unique, 'a' appear\(s\) twice"),
    ({"encoders": []}, r"encoders: List should have at least 1 item"),
    ({"dataset": {"name": "trec", "root": "/d"}}, r"dataset\.root: unknown field"),
])
def test_errors_name_the_field(changes, match) -> None:
    with pytest.raises(ConfigError, match=r"invalid audit config:\n(.|\n)*" + match):
        parse_audit({**BASE, "encoders": ["a", "b"], **changes})


def test_toml_yaml_and_json_audit_files_read_the_same(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('dataset = "trec"\nout = "o"\n[[encoders]]\nname = "minilm"\n'
                                     '[[encoders]]\nname = "minilm"\noptions = { layer = 3 }\nlabel = "L3"\n')
    (tmp_path / "a.yaml").write_text("dataset: trec\nout: o\nencoders: [minilm, {name: minilm, options: {layer: 3}, "
                                     "label: L3}]\n")
    (tmp_path / "a.json").write_text(json.dumps({"dataset": "trec", "out": "o", "encoders": [
        "minilm", {"name": "minilm", "options": {"layer": 3}, "label": "L3"}]}))
    assert load_audit(tmp_path / "a.toml") == load_audit(tmp_path / "a.yaml") == load_audit(tmp_path / "a.json")


def _corpus(root: Path) -> Path:
    for c, words in (("sport", "ball goal match team"), ("food", "bread soup salt cook")):
        (root / "corpus" / c).mkdir(parents=True)
        for i in range(12):
            (root / "corpus" / c / f"{i}.txt").write_text(" ".join(words.split()[j % 4] for j in range(i, i + 6)))
    return root / "corpus"


@pytest.mark.slow
def test_a_folder_dataset_is_reachable_from_encode_and_audit(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    cache = str(tmp_path / "cache")
    assert main(["encode", "--encoders", "text-bag", "--dataset", f"text-folder?path={corpus}", "--split", "test",
                 "--cache", cache, "--no-progress"]) == 0
    out = tmp_path / "audit"
    assert main(["audit", "--encoders", "text-bag,text-bag?seed=1", "--dataset", f"text-folder?path={corpus}",
                 "--metrics", "linear_cka", "--cache", cache, "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "linear_cka.json").read_text())["rows"] == ["text-bag", "text-bag?seed=1"]
    assert main(["audit", "--encoders", "text-bag,text-bag?seed=1", "--dataset", "text-folder", "--out", str(out)]) == 2


def test_a_missing_dataset_option_names_how_to_pass_it(tmp_path: Path) -> None:
    import stitch

    with pytest.raises(TypeError, match=r"dataset 'text-folder' needs the option\(s\) 'path', which were not given; "
                                        r"it accepts: path, root, seed, encoding \(stitch\.load_dataset\('text-folder', "
                                        r"<option>=\.\.\.\), --dataset 'text-folder\?<option>=\.\.\.' on the command "
                                        r"line, or dataset\.options in a file\)"):
        stitch.load_dataset("text-folder", data_root=tmp_path)
