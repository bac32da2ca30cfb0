"""Space kinds as registered objects: parsing, options, fit/stitch against the estimators they wrap, and a
plugin's kind running through experiment files and the stitching matrix with no other change."""

from __future__ import annotations

import pytest
import torch

from stitch import hookimpl, registry
from stitch.core.product import ProductSpace
from stitch.core.projection import RelativeProjection
from stitch.core.translate import Procrustes, Ridge
from stitch.errors import UnknownNameError
from stitch.experiment import parse_experiment
from stitch.experiment.config import AnchorConfig, DecoderConfig, SpaceConfig
from stitch.experiment.matrix import stitching_matrix
from stitch.spaces import SPACES, AbsoluteSpace, Space, create_space, end_to_end_kinds, list_spaces, register_space


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(12, 5, generator=g, dtype=torch.float64), torch.randn(7, 5, generator=g, dtype=torch.float64)


def test_builtin_kinds_and_what_they_declare() -> None:
    assert list_spaces() == ["absolute", "product", "relative", "translate"]
    assert end_to_end_kinds() == ["absolute", "product", "relative"]
    flags = {k: (SPACES.get(k).relative, SPACES.get(k).absolute_decoder) for k in list_spaces()}
    assert flags == {"absolute": (False, True), "product": (True, False), "relative": (True, False),
                     "translate": (False, True)}


def test_fit_agrees_with_the_estimators_it_wraps() -> None:
    anchors, x = _data()
    torch.testing.assert_close(create_space("relative:euclidean", center="mean").fit(anchors)(x),
                               RelativeProjection("euclidean", center="mean").fit(anchors).transform(x))
    torch.testing.assert_close(create_space("product:cosine,l1").fit(anchors)(x),
                               ProductSpace(["cosine", "l1"]).fit(anchors).transform(x))
    stacked = create_space("product:cosine,l1", aggregation="attention").fit(anchors)(x)
    assert stacked.shape == (7, 2, 12)  # the decoder owns a trainable aggregation: it reads the stacked form
    assert create_space("absolute").fit(anchors)(x) is x


def test_stitch_reads_the_other_encoder_where_the_decoder_reads() -> None:
    anchors, x = _data()
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    # relative: the other encoder's own relative space, invariant to its rotation
    z, extra = create_space("relative:cosine").stitch(anchors, anchors @ q, x @ q)
    torch.testing.assert_close(z, RelativeProjection("cosine").fit(anchors).transform(x))
    assert extra == {}
    # absolute: read as it is, so a rotation is not undone (the non-invariance)
    z, _ = create_space("absolute").stitch(anchors, anchors @ q, x @ q)
    assert not torch.allclose(z, x, atol=1e-3)
    # translate: the translator fitted from the stitched encoder's anchors to the decoder's
    z, _ = create_space("translate:ridge", alpha=0.5).stitch(anchors, anchors @ q, x @ q)
    torch.testing.assert_close(z, Ridge(alpha=0.5).fit(anchors @ q, anchors).transform(x @ q))
    torch.testing.assert_close(create_space("translate:procrustes").stitch(anchors, anchors @ q, x @ q)[0],
                               Procrustes().fit(anchors @ q, anchors).transform(x @ q))


def test_translate_auto_makes_the_stitchers_choice_and_records_it() -> None:
    from stitch.stitcher import Stitcher

    g = torch.Generator().manual_seed(2)
    anchors = torch.randn(60, 5, generator=g, dtype=torch.float64)
    w = torch.randn(5, 5, generator=g, dtype=torch.float64)
    other, x = anchors @ w + 3.0, torch.randn(4, 5, generator=g, dtype=torch.float64)
    z, extra = create_space("translate:auto").stitch(anchors, other, x @ w + 3.0, seed=1)
    stitcher = Stitcher(seed=1).fit(other, anchors)  # the same candidates, folds and choice
    assert extra == {"translator_choice": stitcher.report_["choice"]} and stitcher.method_ in ("affine", "linear")
    torch.testing.assert_close(z, stitcher.transform(x @ w + 3.0))
    torch.testing.assert_close(z, x)
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'alpha' for space 'translate:auto'; expected some of "
                                         r"none$"):
        create_space("translate:auto", alpha=1.0)


def test_ot_discovers_the_hidden_pairing_and_reports_it() -> None:
    g = torch.Generator().manual_seed(0)
    anchors = torch.randn(40, 6, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    z, extra = create_space("translate:ot", n_known=5).stitch(anchors, anchors @ q, anchors[:3] @ q, seed=0)
    assert extra == {"anchors_recovered": 35, "anchors_to_recover": 35, "match_reliability": 1.0}
    torch.testing.assert_close(z, anchors[:3])
    _, extra = create_space("translate:ot").stitch(anchors, anchors @ q, anchors[:3] @ q, seed=0, known=8)
    assert extra["anchors_to_recover"] == 32  # the experiment's discover.known when n_known is not set


@pytest.mark.parametrize(("spec", "options", "error", "match"), [
    ("relatve:cosine", {}, UnknownNameError, r"unknown space kind 'relatve'; did you mean 'relative'"),
    ("relative", {}, ValueError, r"space 'relative' needs an argument after ':', e.g. 'relative:cosine'$"),
    ("absolute:x", {}, ValueError, r"'absolute' takes no argument, got 'absolute:x'$"),
    ("relative:cosine,l1", {}, ValueError,
     r"'relative' takes one similarity, got 'cosine,l1'; use 'product:cosine,l1'"),
    ("product:cosine", {}, ValueError, r"'product' needs at least two similarities separated by ',', got 'cosine'$"),
    ("relative:cosin", {}, ValueError, r"unknown similarity function 'cosin'; did you mean 'cosine'"),
    ("translate:procrustez", {}, ValueError, r"unknown translation method 'procrustez'; did you mean 'procrustes'"),
    ("translate:ridge", {"n_known": 3}, ValueError,
     r"unknown option\(s\) 'n_known' for space 'translate:ridge'; expected some of 'alpha'"),
    ("absolute", {"center": "mean"}, ValueError, r"unknown option\(s\) 'center' for space 'absolute'; expected some "
                                                 r"of none$"),
    ("", {}, TypeError, r"a space is a string 'kind\[:argument\]' such as 'relative:cosine', got ''$"),
])
def test_bad_specs_say_what_is_wrong(spec, options, error, match) -> None:
    with pytest.raises(error, match=match):
        create_space(spec, **options)


def test_only_space_classes_register() -> None:
    with pytest.raises(TypeError, match=r"space kind 'x' must be a subclass of stitch.spaces.Space, got "
                                        r"<class 'dict'>"):
        register_space("x", dict)  # type: ignore[arg-type]


class Negated(AbsoluteSpace):
    """Each encoder's latents, negated: a kind a plugin adds with one class."""

    kind = "negated"
    example = "negated"

    def fit(self, anchors: torch.Tensor):
        return lambda z: -z


class SpacePlugin:
    @hookimpl
    def stitch_register_spaces(self, register):
        register("negated", Negated, description="negated latents")


@pytest.fixture
def space_plugin(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STITCH_DISABLE_PLUGINS", "1")
    registry.reset_plugins()
    record = registry.register_plugin(SpacePlugin(), "negplug")
    yield record
    registry.reset_plugins()


def test_a_plugin_space_kind_runs_through_files_and_the_matrix(space_plugin) -> None:
    assert space_plugin.registered == {"spaces": 1}
    assert not Negated.absolute_decoder  # it overrides fit: its decoder is not the absolute one
    assert SPACES.entry("negated").source == "negplug" and isinstance(create_space("negplug:negated"), Space)
    cfg = parse_experiment({"name": "t", "dataset": {"name": "digits"}, "encoders": [{"name": "a"}],
                            "spaces": ["negated", "negplug:negated"]})
    assert [s.kind for s in cfg.spaces] == ["negated", "negated"]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g)
    y = (x[:, 0] > 0).long()
    lat = {"A": (x[:150], x[150:]), "B": (-x[:150], -x[150:])}
    cells, _ = stitching_matrix(lat, y[:150], y[150:], ["negated", "absolute"], anchors=AnchorConfig(n=10),
                                decoder=DecoderConfig(kind="linear", epochs=30, lr=1e-2))
    acc = {(c["space"], c["decoder_encoder"], c["test_encoder"]): c["accuracy"] for c in cells}
    assert acc[("negated", "A", "A")] > 0.8 and acc[("negated", "A", "B")] < 0.2  # the plugin's transform is used
    assert acc[("negated", "A", "A")] == acc[("absolute", "B", "B")]  # both: a decoder trained and tested on -x


def test_space_config_builds_its_space_once_and_compares_by_value() -> None:
    a, b = SpaceConfig.model_validate("translate:ridge"), SpaceConfig(name="translate:ridge")
    assert a == b and a.space is a.space and a.space == create_space("translate:ridge")
    assert SpaceConfig(name="relative:cosine", options={"center": "mean"}) != SpaceConfig(name="relative:cosine")
