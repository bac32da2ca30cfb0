"""Experiment files: TOML/YAML loading and errors that name the field path and the allowed values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stitch.errors import ConfigError
from stitch.experiment import load_experiment, parse_experiment

ROOT = Path(__file__).resolve().parents[1]


def _base(**changes: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "name": "t",
        "dataset": {"name": "digits"},
        "encoders": [{"name": "a"}, {"name": "b"}],
        "spaces": ["absolute", "relative:cosine"],
    }
    cfg.update(changes)
    return cfg


def test_defaults_and_space_parsing() -> None:
    cfg = parse_experiment(_base(spaces=["absolute", "product:cosine, euclidean", {"name": "translate:ridge",
                                                                                    "options": {"alpha": 0.1}}]))
    assert [s.kind for s in cfg.spaces] == ["absolute", "product", "translate"]
    assert cfg.spaces[2].options == {"alpha": 0.1}
    assert cfg.seeds == [0] and cfg.decoder.kind == "mlp" and cfg.anchors.strategy == "random"
    assert cfg.output_dir == Path("runs") / "t"
    trained = parse_experiment(_base(encoders=[{"name": "timm:resnet10t", "train": {"seed": 2}}]))
    assert trained.encoders[0].display == "timm:resnet10t-s2"
    assert trained.encoders[0].family == "timm:resnet10t"


_ERRORS = [
    ({"spaces": ["absolute", "relative:cosin"]},
     r"spaces\[1\]: unknown similarity function 'cosin'; did you mean 'cosine'"),
    ({"spaces": ["relatve:cosine"]},
     r"spaces\[0\]: unknown space kind 'relatve'; did you mean 'relative', 'translate'\? Known: 'absolute', "
     r"'product', 'relative', 'translate'\. Run `stitch spaces list` to see them all\."),
    ({"spaces": ["translate:procrustez"]},
     r"spaces\[0\]: unknown translation method 'procrustez'; did you mean 'procrustes'"),
    ({"spaces": ["product:cosine"]}, r"spaces\[0\]: 'product' needs at least two similarities"),
    ({"spaces": ["relative:cosine,l1"]},
     r"spaces\[0\]: 'relative' takes one similarity, got 'cosine,l1'; use 'product:cosine,l1'"),
    ({"spaces": ["relative"]},
     r"spaces\[0\]: space 'relative' needs an argument after ':', e.g. 'relative:cosine'"),
    ({"spaces": ["absolute:x"]}, r"spaces\[0\]: 'absolute' takes no argument"),
    ({"spaces": []}, r"spaces: List should have at least 1 item"),
    ({"spaces": [{"name": "relative:cosine", "options": {"centre": "mean"}}]},
     r"spaces\[0\]: unknown option\(s\) 'centre' for space 'relative:cosine'; expected some of .*'center'"),
    ({"spaces": [{"name": "translate:ridge", "options": {"n_known": 3}}]},
     r"spaces\[0\]: unknown option\(s\) 'n_known' for space 'translate:ridge'; expected some of 'alpha'"),
    ({"decoder": {"kind": "mlpp"}}, r"decoder.kind: unknown decoder 'mlpp'; did you mean 'mlp'\?"),
    ({"encoders": [{"name": "a", "train": {"options": {"lr": 1.0}}}]},
     r"encoders\[0\]\.train\.options: 'lr' belong\(s\) in the train table itself, not in train\.options "
     r"\(train = \{ lr = \.\.\. \}\)"),
    ({"decoder": {"epochs": 0}}, r"decoder.epochs: Input should be greater than or equal to 1"),
    ({"anchors": {"strategy": "rand"}}, r"anchors.strategy: unknown anchor strategy 'rand'; did you mean 'random'"),
    ({"anchors": {"discover": {"method": "sinkorn"}}},
     r"anchors.discover.method: unknown matching method 'sinkorn'; expected one of 'auto', 'gromov', "
     r"'self-learning', 'sinkhorn'. Did you mean 'sinkhorn'\?"),
    ({"anchors": {"discover": {"known": -1}}}, r"anchors.discover.known: Input should be greater than or equal to 0"),
    ({"anchors": {"n": 8, "discover": {"known": 8}}},
     r"anchors: discover.known = 8 known pairs leave none of the n = 8 anchors to discover; use known < n"),
    ({"protocol": "end-to-end", "anchors": {"discover": {}},
      "encoders": [{"name": "a", "train": {}}, {"name": "b", "train": {}}]},
     r"anchors.discover: end-to-end training embeds the anchors with every model it trains, so there is no hidden "
     r"pairing to discover; remove it or use protocol 'frozen'"),
    ({"anchors": {"n": 10, "reference": "zz"}},
     r"anchors.reference 'zz' is not an encoder label; expected one of 'a', 'b'"),
    ({"encoders": [{"name": "a"}, {"name": "a"}]}, r"encoders must be unique, 'a' appear\(s\) twice"),
    ({"encoders": [{"name": "a", "train": {"epoch": 3}}]},
     r"encoders\[0\].train.epoch: unknown field \(did you mean 'epochs'\?\); allowed here: batch_size, epochs, lr, "
     r"options, patience, seed"),
    ({"anchor": {"n": 3}}, r"anchor: unknown field \(did you mean 'anchors'\?\)"),
    ({"seeds": [0, 0]}, r"seeds must be unique"),
    ({"colour": "red"},
     r"colour: unknown field \(check its spelling\); allowed here: anchors, cache_root, data_root, dataset, "),
]


@pytest.mark.parametrize(("changes", "match"), _ERRORS)
def test_config_errors_name_the_field(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_experiment(_base(**changes))


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_experiment(_base(spaces=["relative:cosin"], decoder={"kind": "x"}, extra=1))
    text = str(info.value)
    assert "spaces[0]" in text and "decoder.kind" in text and "extra: unknown field" in text


def test_toml_yaml_and_json_files_load_the_same(tmp_path: Path) -> None:
    toml = tmp_path / "e.toml"
    toml.write_text('name = "t"\nspaces = ["absolute", "translate:procrustes"]\nseeds = [0, 1]\n'
                    '[dataset]\nname = "digits"\n[[encoders]]\nname = "a"\n[[encoders]]\nname = "b"\n')
    yaml = tmp_path / "e.yaml"
    yaml.write_text("name: t\nspaces: [absolute, 'translate:procrustes']\nseeds: [0, 1]\n"
                    "dataset: {name: digits}\nencoders: [{name: a}, {name: b}]\n")
    js = tmp_path / "e.json"
    js.write_text('{"name": "t", "spaces": ["absolute", "translate:procrustes"], "seeds": [0, 1], '
                  '"dataset": {"name": "digits"}, "encoders": [{"name": "a"}, {"name": "b"}]}')
    assert load_experiment(toml) == load_experiment(yaml) == load_experiment(js)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="experiment file '.*nope.toml' not found"):
        load_experiment(tmp_path / "nope.toml")
    bad = tmp_path / "e.ini"
    bad.write_text("x")
    with pytest.raises(ConfigError, match=r"unknown extension '.ini'; expected '.toml', '.yaml', '.yml' or '.json'"):
        load_experiment(bad)
    broken = tmp_path / "e.toml"
    broken.write_text("name = \n")
    with pytest.raises(ConfigError, match="cannot parse experiment file '.*e.toml'"):
        load_experiment(broken)
    wrong = tmp_path / "w.toml"
    wrong.write_text('name = "t"\nspaces = ["absolute"]\n[dataset]\nname = "digits"\n[[encoders]]\nnam = "a"\n')
    with pytest.raises(ConfigError, match=r"invalid experiment file '.*w.toml':\n  encoders\[0\].name: Field required"):
        load_experiment(wrong)
    with pytest.raises(ConfigError, match="expected a table/mapping at the top level, got list"):
        parse_experiment([1, 2])


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_examples_pass_every_check_the_run_makes(path: Path, shared_data: Path, monkeypatch) -> None:
    from stitch.experiment import check_experiment

    cfg = load_experiment(path)
    if cfg.models_root is None:
        monkeypatch.setenv("STITCH_MODELS", str(shared_data.parent / "models"))
    plan, dataset = check_experiment(cfg, data_root=shared_data)  # names, data, splits, anchors against the data
    assert plan.n_cells == len(cfg.spaces) * len(cfg.seeds) * len(cfg.encoders) ** 2
    assert plan.n_anchors <= plan.n_train and len(cfg.encoders) >= 2
    assert len({e.display for e in cfg.encoders}) == len(cfg.encoders) and dataset.name.startswith(cfg.dataset.name)


def test_per_encoder_resources_are_validated() -> None:
    base = {"name": "t", "dataset": {"name": "digits"}, "spaces": ["absolute"]}
    cfg = parse_experiment({**base, "encoders": [{"name": "a", "resources": {"num_gpus": 1, "concurrency": 2}}]})
    assert cfg.encoders[0].resources.overrides() == {"num_gpus": 1.0, "concurrency": 2}
    with pytest.raises(ConfigError, match=r"encoders\[0\]\.resources\.gpus: unknown field \(did you mean "
                                          r"'num_gpus'\?\)"):
        parse_experiment({**base, "encoders": [{"name": "a", "resources": {"gpus": 1}}]})
    with pytest.raises(ConfigError, match=r"encoders\[0\]\.resources\.concurrency: Input should be greater than "
                                          r"or equal to 1"):
        parse_experiment({**base, "encoders": [{"name": "a", "resources": {"concurrency": 0}}]})
