"""Every `stitch` command: `--help` exits 0, bad input exits 2 with one `stitch: error:` line; pipes; imports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stitch.cli import main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["plugins", "encoders", "encoders list", "encoders show", "datasets", "datasets list", "datasets show",
            "similarities list", "anchors list", "metrics list", "aggregations list", "translators list",
            "decoders list", "cache", "cache list", "cache clear", "run", "demo", "audit"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_exits_0_and_prints_usage(capsys, command):
    assert main([*command.split(), "--help"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"usage: stitch {command}") and err == ""


MISSING = "/nonexistent-stitch-test"

# (argv, regular expression the whole stderr must match: exactly one line)
BAD_INPUTS = [
    (["bogus"], r"stitch: error: argument COMMAND: invalid choice: 'bogus' \(choose from .*\) \(see `stitch --help`\)"),
    (["--bogus"], r"stitch: error: unrecognized arguments: --bogus \(see `stitch --help`\)"),
    (["encoders", "list", "--modality"],
     r"stitch: error: encoders list: argument --modality: expected one argument "
     r"\(see `stitch encoders list --help`\)"),
    (["encoders", "show"],
     r"stitch: error: encoders show: the following arguments are required: name \(see `stitch encoders show --help`\)"),
    (["encoders", "show", "nope"],
     r"stitch: error: unknown encoder 'nope'\. Known: .*'minilm'.* Run `stitch encoders list` to see them all\..*"),
    (["encoders", "show", "hf:"], r"stitch: error: 'hf:' needs a model id or a local directory, e\.g\. .*"),
    (["datasets", "show", "nope"],
     r"stitch: error: unknown dataset 'nope'\. Known: .*'trec'.* Run `stitch datasets list` to see them all\."),
    (["datasets", "show", "trec", "--load", "--data", MISSING],
     rf"stitch: error: data directory '{MISSING}' does not exist; pass the directory holding the dataset's files "
     r"\(--data / data_root=\), or leave it unset"),
    (["datasets", "show", "digits", "--load", "--data", MISSING],
     rf"stitch: error: data directory '{MISSING}' does not exist; .*"),  # not ignored by a loader that needs none
    (["metrics", "list", "--bogus"],
     r"stitch: error: metrics: unrecognized arguments: --bogus \(see `stitch metrics --help`\)"),
    (["cache", "clear", "--bogus"],
     r"stitch: error: cache: unrecognized arguments: --bogus \(see `stitch cache --help`\)"),
    (["demo", "--bogus"], r"stitch: error: demo: unrecognized arguments: --bogus \(see `stitch demo --help`\)"),
    (["run"],
     r"stitch: error: run: the following arguments are required: EXPERIMENT \(see `stitch run --help`\)"),
    (["run", f"{MISSING}.toml"], rf"stitch: error: experiment file '{MISSING}\.toml' not found.*"),
    (["audit", "--n", "abc"],
     r"stitch: error: audit: argument --n: invalid int value: 'abc' \(see `stitch audit --help`\)"),
    (["audit"], r"stitch: error: no encoders: pass --encoders A,B or set encoders in the --config file"),
    (["audit", "--encoders", "minilm"],
     r"stitch: error: no dataset: pass --dataset NAME or set dataset in the --config file"),
    (["audit", "--config", f"{MISSING}.toml"],
     rf"stitch: error: audit file '{MISSING}\.toml' not found; pass the path of an existing \.toml, \.yaml or "
     r"\.json file"),
    (["audit", "--encoders", "text-bag", "--dataset", "digits", "--out", "OUT"],
     r"stitch: error: an audit compares models pairwise and needs at least two encoders, got \['text-bag'\]; pass "
     r"--encoders A,B \(or --layers for the layers of one encoder\)"),
    (["audit", "--encoders", "nope,minilm", "--dataset", "digits", "--out", "OUT"],
     r"stitch: error: unknown encoder 'nope'\. Known: .* Run `stitch encoders list` to see them all\..*"),
    (["audit", "--encoders", "text-bag,minilm", "--dataset", "nope", "--out", "OUT"],
     r"stitch: error: unknown dataset 'nope'\. Known: .* Run `stitch datasets list` to see them all\."),
    (["audit", "--encoders", "text-bag,minilm", "--dataset", "digits", "--metrics", "linear_cka,nope", "--out", "OUT"],
     r"stitch: error: unknown metric 'nope'\. Known: .*'linear_cka'.* Run `stitch metrics list` to see them all\."),
    (["audit", "--encoders", "text-bag,minilm", "--dataset", "digits", "--out", "OUT"],
     r"stitch: error: encoder 'text-bag' takes text inputs but dataset 'digits' holds image; pick an encoder from "
     r"`stitch encoders list --modality image` or a text dataset"),
    (["audit", "--encoders", f"file:{MISSING}.safetensors,minilm", "--dataset", "digits", "--out", "OUT"],
     rf"stitch: error: latents file '{MISSING}\.safetensors' does not exist; pass a \.safetensors file .*"),
    (["audit", "--encoders", "a", "--dataset", "digits", "--out", "OUT", "--option", "bad"],
     r"stitch: error: --option 'bad' is not of the form METRIC\.KEY=VALUE \(e\.g\. mutual_knn\.k=20\)"),
    (["audit", "--encoders", "a,b,c", "--dataset", "digits", "--out", "OUT", "--layers", "1,2"],
     r"stitch: error: --layers compares one or two encoders layer by layer, got 3: \['a', 'b', 'c'\]"),
]


@pytest.mark.parametrize(("argv", "pattern"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_exits_2_with_one_error_line(capsys, tmp_path, argv, pattern):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert re.fullmatch(pattern, err.rstrip("\n")), err
    assert not (tmp_path / "out").exists()  # nothing written before the error


def test_data_flag_is_the_same_everywhere_and_old_spellings_still_work():
    from stitch.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["audit", "--data", "d1"]).data_root == "d1"
    assert parser.parse_args(["audit", "--data-root", "d2"]).data_root == "d2"  # deprecated alias
    assert parser.parse_args(["audit", "--dataset", "trec"]).dataset == "trec"  # --data is no prefix clash
    assert parser.parse_args(["run", "x.toml", "--data", "d3"]).data == "d3"
    assert parser.parse_args(["datasets", "show", "trec", "--data", "d4"]).root == "d4"
    assert parser.parse_args(["datasets", "show", "trec", "--root", "d5"]).root == "d5"  # earlier spelling


def test_success_exits_0(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("latent-stitch ")
    assert main(["similarities", "list", "cos*"]) == 0
    out, err = capsys.readouterr()
    assert "| cosine | builtin |" in out and err == ""


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          **kw)


@pytest.mark.parametrize("argv", [["datasets", "list"], ["plugins"]])
def test_closed_pipe_exits_quietly(argv):
    # `stitch ... | head`: the reader is gone before the command writes, so its first flush hits EPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run([sys.executable, "-m", "stitch.cli", *argv], cwd=ROOT, env=env, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode == 1  # what Python itself exits with on EPIPE (docs: "Note on SIGPIPE")


HEAVY = ("torch", "timm", "transformers", "torch_geometric", "sklearn", "matplotlib", "ot")


def test_import_and_help_load_no_heavy_library():
    script = f"""
import sys
import stitch
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
from stitch.cli import main
codes = {{main([*c.split(), "--help"]) for c in {["", *COMMANDS]!r}}}
print(codes, sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)
"""
    proc = _run(["-c", script])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "[]"  # import stitch
    assert proc.stderr.strip() == "{0} []"  # every --help
