"""The plugin host: hookspecs, entry-point discovery, isolation of broken plugins, env switches, lookups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pluggy
import pytest
import torch

import stitch.registry as registry
import stitch
from stitch.registry import hookspecs
from stitch import hookimpl
from stitch.data import Dataset
from stitch.encoder import BaseEncoder, EncoderSpec
from stitch.errors import AmbiguousNameError, PluginError, UnknownNameError

FAKE_PREFIX = "fakeplug_"


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch):
    for var in ("STITCH_PLUGINS", "STITCH_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    # Installed plugins (the built-in adapters) stay out unless a test names them.
    monkeypatch.setenv("STITCH_DISABLE_PLUGINS", "1")
    registry.reset_plugins()
    yield
    registry.reset_plugins()
    for name in [m for m in sys.modules if m.startswith(FAKE_PREFIX)]:
        del sys.modules[name]


# -- an in-process toy plugin ------------------------------------------------------------------------
class Scale(BaseEncoder):
    """``x -> x * (1, 2, 3)`` for a list of floats; counts loads to prove laziness."""

    loads = 0

    def _load(self) -> None:
        type(self).loads += 1

    def _prepare(self, inputs):
        if not isinstance(inputs, list) or not all(isinstance(v, float) for v in inputs):
            raise TypeError(f"expected a list of floats, got {type(inputs).__name__}")
        return inputs

    def _encode_batch(self, batch):
        return torch.tensor(batch)[:, None] * torch.arange(1.0, 4.0)


def scale_spec(name: str = "scale", **kw) -> EncoderSpec:
    return EncoderSpec(name, kw.pop("modality", "tabular"), "Scales floats", dim=3, weights="none", license="MIT", **kw)


class EncoderPlugin:
    def __init__(self, *specs: EncoderSpec) -> None:
        self.specs = specs or (scale_spec(aliases=("scaler",)),)
        self.calls = 0
        self.built = 0

    def factory(self, spec: EncoderSpec):
        def build(*, batch_size: int = 64) -> Scale:
            self.built += 1
            return Scale(spec, batch_size=batch_size)

        return build

    @hookimpl
    def stitch_register_encoders(self, register):
        self.calls += 1
        for spec in self.specs:
            register(spec, self.factory(spec))


# -- hookspecs ----------------------------------------------------------------------------------------
def test_hookspecs_are_the_contract_names_and_resolver_is_firstresult():
    pm = pluggy.PluginManager("stitch")
    pm.add_hookspecs(hookspecs)
    names = {h for h in dir(pm.hook) if h.startswith("stitch_")}
    assert names == {*hookspecs.REGISTER_HOOKS, "stitch_resolve_encoder"}
    assert pm.hook.stitch_resolve_encoder.spec.opts["firstresult"] is True
    assert pm.hook.stitch_register_encoders.spec.opts["firstresult"] is False
    assert stitch.hookimpl.project_name == "stitch"


# -- registration and lookup --------------------------------------------------------------------------
def test_registered_encoder_is_listed_and_built_lazily():
    plugin = EncoderPlugin()
    record = registry.register_plugin(plugin, "toyplug")
    assert record.registered == {"encoders": 1} and record.hooks == ("stitch_register_encoders",)
    loads = Scale.loads
    assert stitch.list_encoders() == ["scale"]
    assert stitch.get_encoder_spec("scale").plugin == "toyplug"
    assert plugin.built == 0  # listing never builds
    for name in ("scale", "scaler", "toyplug:scale", "toyplug:scaler"):
        assert stitch.create_encoder(name).name == "scale"
    assert plugin.built == 4 and Scale.loads == loads  # building never loads
    z = stitch.create_encoder("scale").encode([1.0, 2.0])
    assert Scale.loads == loads + 1
    torch.testing.assert_close(z, torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]))


def test_list_encoders_filters_by_wildcard_and_modality():
    registry.register_plugin(
        EncoderPlugin(scale_spec("vit-small", modality="image"), scale_spec("vit-base", modality="image"),
                      scale_spec("bert", modality="text", aliases=("vit-ish",))),
        "p",
    )
    assert stitch.list_encoders("vit-*") == ["bert", "vit-base", "vit-small"]  # alias matches
    assert stitch.list_encoders("vit-*", modality="image") == ["vit-base", "vit-small"]
    assert stitch.list_encoders("p:b*") == ["bert"]
    assert stitch.list_encoders(modality="graph") == []


def test_unknown_encoder_suggests_close_names_and_the_list_command():
    registry.register_plugin(EncoderPlugin(), "p")
    with pytest.raises(UnknownNameError, match=r"unknown encoder 'scal'; did you mean 'scale'.*stitch encoders list"):
        stitch.create_encoder("scal")


def test_same_name_from_two_plugins_is_kept_reported_and_ambiguous():
    registry.register_plugin(EncoderPlugin(scale_spec("shared")), "alpha")
    registry.register_plugin(EncoderPlugin(scale_spec("shared")), "beta")
    assert stitch.list_encoders("shared") == ["shared"]  # one name, two sources
    assert registry.clashes() == {"encoders": {"shared": ["alpha", "beta"]}}
    with pytest.raises(AmbiguousNameError, match=r"'shared' is registered by 2 sources .*'alpha:shared'.*pick one"):
        stitch.create_encoder("shared")
    assert stitch.get_encoder_spec("beta:shared").plugin == "beta"


def test_get_encoder_reports_invalid_options_with_the_accepted_ones():
    registry.register_plugin(EncoderPlugin(), "p")
    with pytest.raises(TypeError, match=r"encoder 'scale' got invalid options \['batchsize'\].*accepts: batch_size"):
        stitch.create_encoder("scale", batchsize=2)
    assert stitch.create_encoder("scale", batch_size=2).batch_size == 2


def test_factory_returning_a_non_encoder_is_a_type_error():
    class Bad:
        @hookimpl
        def stitch_register_encoders(self, register):
            register(scale_spec("bad"), lambda: object())

    registry.register_plugin(Bad(), "bad")
    with pytest.raises(TypeError, match=r"returned object, which lacks name, modality, dim, encode"):
        stitch.create_encoder("bad")


# -- resolver hook ------------------------------------------------------------------------------------
class PrefixResolver:
    @hookimpl
    def stitch_resolve_encoder(self, name):
        if not name.startswith("toy:"):
            return None
        spec = scale_spec(name)
        return spec, lambda: Scale(spec)


def test_resolver_serves_prefixed_names_after_exact_and_qualified_names():
    registry.register_plugin(PrefixResolver(), "toy")
    registry.register_plugin(EncoderPlugin(scale_spec("scale")), "other")
    enc = stitch.create_encoder("toy:anything-at-all")
    assert enc.name == "toy:anything-at-all"
    assert stitch.get_encoder_spec("toy:x").plugin == "toy"
    # "other:scale" is the qualified spelling of a registered name: it never reaches the resolver.
    assert stitch.get_encoder_spec("other:scale").plugin == "other"
    assert stitch.list_encoders() == ["scale"]  # resolver names are not listed
    with pytest.raises(UnknownNameError, match="unknown encoder 'nope:x'"):
        stitch.create_encoder("nope:x")


def test_a_plugin_may_register_names_in_its_own_namespace():
    from stitch.utils.names import NameTable

    registry.register_plugin(EncoderPlugin(scale_spec("toy:scale"), scale_spec("plain")), "toy")
    entry = registry.ENCODERS.entry("toy:scale")
    assert (entry.name, entry.source, entry.qualified_name) == ("toy:scale", "toy", "toy:scale")
    assert stitch.list_encoders("toy:*") == ["plain", "toy:scale"]
    assert stitch.create_encoder("toy:scale").name == "toy:scale"
    with pytest.raises(UnknownNameError, match="unknown encoder 'scale'"):
        stitch.create_encoder("scale")  # the namespaced name has no bare spelling
    # Another source cannot claim a name in someone else's namespace, so qualified names never clash.
    with pytest.raises(PluginError, match=r"cannot register encoder 'toy:evil': .*'intruder:name' in the registering"):
        registry.register_plugin(EncoderPlugin(scale_spec("toy:evil")), "intruder")
    table: NameTable[int] = NameTable("thing")
    for bad in ("toy:", "toy:a:b", ":x", "other:x"):
        with pytest.raises(ValueError, match="a name is a non-empty string without ':'"):
            table.register(bad, 1, source="toy")
    with pytest.raises(ValueError, match=r"aliases \['toy:s'\] must be names without ':'"):
        table.register("s", 1, source="toy", aliases=("toy:s",))


class FamilyPlugin:
    @hookimpl
    def stitch_register_encoder_families(self, register):
        register("toy", "any toy model", placeholder="<model>", modality="tabular", extra="toys")

    @hookimpl
    def stitch_resolve_encoder(self, name):
        if name.startswith("toy:"):
            spec = scale_spec(name)
            return spec, lambda: Scale(spec)
        return None


def test_encoder_families_are_listed_and_suggested(capsys):
    from stitch.cli import main

    record = registry.register_plugin(FamilyPlugin(), "toyfam")
    assert record.registered == {"encoder families": 1}
    assert stitch.list_encoder_families() == ["toy:<model>"]
    family = stitch.get_encoder_family("toy")
    assert family.to_dict() == {"pattern": "toy:<model>", "prefix": "toy", "description": "any toy model",
                                "modality": "tabular", "extra": "toys", "plugin": "toyfam", "available": True}
    assert stitch.list_encoder_families("toy*") == ["toy:<model>"] == stitch.list_encoder_families(modality="tabular")
    assert stitch.list_encoder_families("timm*") == [] == stitch.list_encoder_families(modality="image")
    assert stitch.list_encoders() == []  # a family is not an entry
    assert main(["encoders", "list"]) == 0
    out = capsys.readouterr().out
    assert "toy:<model>  any toy model (pip install latent-stitch[toys])" in out
    with pytest.raises(UnknownNameError, match=r"unknown encoder 'model'.* Prefixed families also resolve: toy:<mod"):
        stitch.create_encoder("model")
    registry.reset_plugins()
    assert stitch.list_encoder_families() == []


def test_invalid_family_registration_is_rejected():
    class Bad:
        @hookimpl
        def stitch_register_encoder_families(self, register):
            register("bad", "")

    with pytest.raises(PluginError, match=r"description of family 'bad' must be a non-empty string, got ''"):
        registry.register_plugin(Bad(), "bad")
    assert stitch.list_encoder_families() == []


def test_resolver_returning_garbage_names_the_plugin():
    class Garbage:
        @hookimpl
        def stitch_resolve_encoder(self, name):
            return "not a spec"

    registry.register_plugin(Garbage(), "garbage")
    with pytest.raises(PluginError, match=r"plugin 'garbage' resolved encoder 'x:y' to 'not a spec'"):
        stitch.create_encoder("x:y")


# -- other registries ---------------------------------------------------------------------------------
def toy_loader(*, root=None, n: int = 4) -> Dataset:
    """Four toy rows."""
    ids = tuple(f"r{i}" for i in range(n))
    return Dataset("toyset", "tabular", np.eye(n, dtype=np.float32), np.arange(n) % 2, ("a", "b"), ids,
                   {"train": np.arange(n)}, metadata={"root": None if root is None else str(root)})


class Everything:
    @hookimpl
    def stitch_register_datasets(self, register):
        register("toyset", toy_loader, modality="tabular")

    @hookimpl
    def stitch_register_similarities(self, register):
        register("negdot", lambda x, a: -(x @ a.T), invariances=("orthogonal",), description="negated dot")

    @hookimpl
    def stitch_register_anchor_strategies(self, register):
        register("firstk", lambda x, n, **kw: torch.arange(n), description="the first n samples")

    @hookimpl
    def stitch_register_metrics(self, register):
        register("zero", lambda x, y: 0.0, kind="distance", range=(0.0, 1.0), description="always zero")


def test_datasets_similarities_anchor_strategies_and_metrics_reach_their_tables(monkeypatch, tmp_path):
    from stitch.core.anchors import ANCHOR_STRATEGIES, select_anchors
    from stitch.core.similarity import SIMILARITIES

    record = registry.register_plugin(Everything(), "every")
    from stitch.metrics import METRICS, get_metric

    assert record.registered == {"datasets": 1, "similarities": 1, "anchor strategies": 1, "metrics": 1}
    zero = get_metric("every:zero")
    assert (zero.kind, zero.range, zero.description) == ("distance", (0.0, 1.0), "always zero")
    assert stitch.list_datasets() == ["toyset"]
    info = stitch.get_dataset_info("toyset")
    assert (info.name, info.modality, info.plugin, info.description) == ("toyset", "tabular", "every", "Four toy rows.")
    monkeypatch.setenv("STITCH_DATA", str(tmp_path))
    assert stitch.load_dataset("toyset").metadata["root"] == str(tmp_path)  # root defaults to $STITCH_DATA
    assert len(stitch.load_dataset("every:toyset", data_root=tmp_path, n=6)) == 6
    with pytest.raises(TypeError, match=r"dataset 'toyset' got invalid options.*accepts: root, n"):
        stitch.load_dataset("toyset", size=3)
    assert SIMILARITIES.entry("negdot").source == "every"
    x = torch.randn(5, 3)
    torch.testing.assert_close(stitch.relative_projection(x, x[:2], "every:negdot"), -(x @ x[:2].T))
    assert select_anchors(torch.randn(6, 2), 3, "firstk").tolist() == [0, 1, 2]
    registry.reset_plugins()  # forgetting a plugin removes its entries from the core tables too
    assert "negdot" not in SIMILARITIES.names() and "firstk" not in ANCHOR_STRATEGIES.names()
    assert "zero" not in METRICS.names()


def test_dataset_loader_must_return_a_dataset():
    class Wrong:
        @hookimpl
        def stitch_register_datasets(self, register):
            register("wrong", lambda *, root=None: [1, 2], modality="tabular", description="a list")

    registry.register_plugin(Wrong(), "wrong")
    with pytest.raises(TypeError, match="returned list; a dataset loader must return a stitch.Dataset"):
        stitch.load_dataset("wrong")


# -- invalid plugins ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("plugin", "match"),
    [
        (object(), "implements no hook: decorate its functions with @stitch.hookimpl"),
        (type("Unknown", (), {"stitch_register_models": hookimpl(lambda self, register: None)})(),
         r"implements unknown hook\(s\) stitch_register_models; known hooks: stitch_register_aggregations, "
         r"stitch_register_anchor_strategies"),
        (type("BadArgs", (), {"stitch_register_encoders": hookimpl(lambda self, callback: None)})(),
         "invalid plugin"),
        (type("BadSpec", (), {"stitch_register_encoders": hookimpl(lambda self, register: register("x", len))})(),
         r"hook stitch_register_encoders raised TypeError: register\(spec, factory\): spec must be a "
         r"stitch.EncoderSpec"),
    ],
    ids=["no-hooks", "unknown-hook", "bad-arguments", "bad-register-call"],
)
def test_invalid_plugins_are_rejected_with_the_reason(plugin, match):
    with pytest.raises(PluginError, match=match):
        registry.register_plugin(plugin, "invalid")
    assert stitch.list_encoders() == []


def test_a_hook_that_raises_is_rolled_back():
    class HalfWay:
        @hookimpl
        def stitch_register_encoders(self, register):
            register(scale_spec("half"), lambda: Scale(scale_spec("half")))
            raise RuntimeError("weights server down")

    with pytest.raises(PluginError, match="hook stitch_register_encoders raised RuntimeError: weights server down"):
        registry.register_plugin(HalfWay(), "halfway")
    assert stitch.list_encoders() == []
    registry.register_plugin(EncoderPlugin(), "halfway")  # the name is free again
    assert stitch.get_encoder_spec("scale").plugin == "halfway"


@pytest.mark.parametrize("name", ["builtin", "resolver", "a:b", ""])
def test_reserved_or_malformed_plugin_names_are_refused(name):
    with pytest.raises(PluginError, match="invalid plugin name"):
        registry.register_plugin(EncoderPlugin(), name)


# -- entry points -------------------------------------------------------------------------------------
GOOD_PLUGIN = """
from stitch import hookimpl
from stitch.encoder import BaseEncoder, EncoderSpec

CALLS = []

class Ones(BaseEncoder):
    def _load(self): pass
    def _prepare(self, x): return list(x)
    def _encode_batch(self, b):
        import torch
        return torch.ones(len(b), 2)

SPEC = EncoderSpec("ones", "tabular", "All ones", dim=2, weights="none", license="MIT")

@hookimpl
def stitch_register_encoders(register):
    CALLS.append("encoders")
    register(SPEC, lambda: Ones(SPEC))
"""

HALF_PLUGIN = """
from stitch import hookimpl
from stitch.encoder import EncoderSpec

@hookimpl
def stitch_register_encoders(register):
    register(EncoderSpec("half", "tabular", "registered, then the hook fails", dim=1), lambda: None)
    raise RuntimeError("boom in the hook")
"""


@pytest.fixture
def fake_plugins(site: Path, make_dist) -> Path:
    make_dist(
        site, "stitch-fake", "1.2.3",
        {"good": f"{FAKE_PREFIX}good", "noimport": f"{FAKE_PREFIX}missing", "half": f"{FAKE_PREFIX}half"},
        {f"{FAKE_PREFIX}good": GOOD_PLUGIN, f"{FAKE_PREFIX}half": HALF_PLUGIN},
    )
    return site


def test_entry_points_load_in_isolation_and_broken_ones_are_recorded(fake_plugins, monkeypatch):
    monkeypatch.delenv("STITCH_DISABLE_PLUGINS")
    monkeypatch.setenv("STITCH_PLUGINS", "good,noimport,half")
    with pytest.warns(registry.PluginLoadWarning) as caught:
        assert stitch.list_encoders() == ["ones"]  # the first lookup loads plugins
    assert len(caught) == 2 and "Run `stitch plugins` for details" in str(caught[0].message)
    records = {name: stitch.get_plugin(name) for name in stitch.list_plugins()}
    good, missing, half = records["good"], records["noimport"], records["half"]
    assert (good.status, good.distribution, good.version, good.hooks) == (
        "ok", "stitch-fake", "1.2.3", ("stitch_register_encoders",))
    assert missing.status == "broken"
    assert missing.error.startswith(f"import of '{FAKE_PREFIX}missing' failed: ModuleNotFoundError")
    assert half.status == "broken" and "boom in the hook" in half.error
    assert stitch.create_encoder("ones").encode([1, 2, 3]).shape == (3, 2)
    with pytest.raises(UnknownNameError, match=r"unknown encoder 'half'.* Plugin\(s\) 'half', 'noimport' failed to "
                                               r"load; `stitch plugins` says why.$"):
        stitch.create_encoder("half")  # the half-registered encoder was rolled back


def test_loading_is_idempotent(fake_plugins, monkeypatch):
    monkeypatch.setenv("STITCH_PLUGINS", "good")
    registry.load_plugins()
    registry.load_plugins()
    stitch.list_encoders()
    assert sys.modules[f"{FAKE_PREFIX}good"].CALLS == ["encoders"]
    registry.reload_plugins()
    assert sys.modules[f"{FAKE_PREFIX}good"].CALLS == ["encoders", "encoders"]


def test_strict_mode_turns_a_broken_plugin_into_an_error(fake_plugins, monkeypatch):
    monkeypatch.setenv("STITCH_PLUGINS", "good,noimport")
    monkeypatch.setenv("STITCH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"plugin 'noimport' from stitch-fake 1.2.3 failed to load: import of .*"
                                          r"STITCH_STRICT_PLUGINS is set"):
        stitch.list_encoders()


def test_disable_switch_loads_nothing_but_records_what_is_installed(fake_plugins):
    # STITCH_DISABLE_PLUGINS=1 comes from the fixture.
    assert stitch.list_encoders() == []
    records = {name: stitch.get_plugin(name) for name in stitch.list_plugins()}
    assert records["good"].status == "disabled" and records["good"].error == "STITCH_DISABLE_PLUGINS is set"
    assert f"{FAKE_PREFIX}good" not in sys.modules  # disabled plugins are not even imported


def test_only_named_plugins_load_and_unknown_names_are_reported(fake_plugins, monkeypatch):
    monkeypatch.delenv("STITCH_DISABLE_PLUGINS")
    monkeypatch.setenv("STITCH_PLUGINS", " good , json")  # a module name is not a plugin name
    with pytest.warns(registry.PluginLoadWarning, match="'json'"):
        registry.load_plugins()
    records = {name: stitch.get_plugin(name) for name in stitch.list_plugins()}
    assert records["good"].ok and records["half"].status == "disabled"
    assert records["half"].error == "not listed in STITCH_PLUGINS"
    assert records["json"].error.startswith("STITCH_PLUGINS names 'json' but no installed plugin has that name")


def test_two_distributions_with_one_plugin_name_keep_the_first_on_sys_path(site, tmp_path, monkeypatch, make_dist):
    later = tmp_path / "later-site"
    later.mkdir()
    monkeypatch.syspath_prepend(str(site))  # keep `site` ahead of `later`
    monkeypatch.setattr(sys, "path", [*sys.path, str(later)])
    make_dist(site, "stitch-a", "1.0", {"dup": f"{FAKE_PREFIX}good"}, {f"{FAKE_PREFIX}good": GOOD_PLUGIN})
    make_dist(later, "stitch-b", "2.0", {"dup": f"{FAKE_PREFIX}other"}, {f"{FAKE_PREFIX}other": GOOD_PLUGIN})
    monkeypatch.setenv("STITCH_PLUGINS", "dup")
    with pytest.warns(registry.PluginLoadWarning, match="already used by distribution"):
        records = registry.plugin_status()
    dup = [r for r in records if r.name == "dup"]
    assert sorted((r.distribution, r.status) for r in dup) == [("stitch-a", "ok"), ("stitch-b", "broken")]
    # the built-in adapters are not named in STITCH_PLUGINS, so they are listed as disabled, not loaded
    assert {r.status for r in records if r.name != "dup"} <= {"disabled"}


def test_import_stitch_does_not_load_the_plugin_host():
    code = ("import sys, stitch; print('stitch.registry' in sys.modules, 'torch' in sys.modules, "
            "'pluggy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]



# -- the register callbacks reject bad arguments with the plugin's name in the message -----------------
_BAD_REGISTRATIONS = [
    ("stitch_register_encoders", lambda register: register("not a spec", lambda: None),
     r"register\(spec, factory\): spec must be a stitch.EncoderSpec, got 'not a spec' \(plugin 'bad'\); accepted: "
     r"register\(spec, factory\) with a stitch.EncoderSpec and a callable, register\(EncoderClass\) or "
     r"register\(encoder_instance\)"),
    ("stitch_register_encoders", lambda register: register(3),
     r"register\(\) got 3 \(plugin 'bad'\), which is neither an EncoderSpec nor an encoder"),
    ("stitch_register_encoders", lambda register: register(scale_spec("s"), 3),
     r"register\(spec, factory\): factory for 's' must be callable, got 3 \(plugin 'bad'\)"),
    ("stitch_register_datasets", lambda register: register("d", 3, modality="text"),
     r"register\(name, loader\): loader for 'd' must be callable, got 3"),
    ("stitch_register_datasets", lambda register: register("d", lambda **kw: None, modality=""),
     r"register\(name, loader, modality=...\): modality of 'd' must be a non-empty string"),
]


@pytest.mark.parametrize(("hook", "body", "message"), _BAD_REGISTRATIONS,
                         ids=["encoder-spec", "encoder-object", "encoder-factory", "dataset-loader",
                              "dataset-modality"])
def test_bad_register_arguments_fail_the_plugin_with_a_clear_message(hook, body, message):
    plugin = type("Bad", (), {hook: hookimpl(lambda self, register: body(register))})()
    with pytest.raises(PluginError, match=r"^plugin 'bad' failed to load: .*" + message):
        registry.register_plugin(plugin, "bad")
    assert "bad" not in [r.name for r in registry.plugin_status()]


def test_hook_wrappers_are_refused_for_registration_hooks():
    class Wrapper:
        @hookimpl(wrapper=True)
        def stitch_register_encoders(self, register):
            register(scale_spec("wrapped"), lambda: None)
            return (yield)

    with pytest.raises(PluginError, match=r"hook wrappers are not supported for registration hooks"):
        registry.register_plugin(Wrapper(), "wrap")
    with pytest.raises(UnknownNameError):
        stitch.get_encoder_spec("wrapped")


# -- what plugin authors naturally register -------------------------------------------------------------
class Doubler(BaseEncoder):
    """Doubles lists of floats."""

    spec = scale_spec("doubler")

    def __init__(self, *, batch_size: int = 64) -> None:
        super().__init__(type(self).spec, batch_size=batch_size)

    def _load(self) -> None:
        pass

    def _prepare(self, inputs):
        return Scale._prepare(self, inputs)

    def _encode_batch(self, batch):
        return torch.tensor(batch)[:, None] * torch.tensor([2.0, 2.0, 2.0])


class PlainEncoder:
    """A protocol-only encoder with class attributes (no spec)."""

    name, modality, dim = "plain-enc", "tabular", 3

    def encode(self, inputs, *, batch_size=64, progress=None):
        return torch.ones(len(inputs), 3)


def test_register_takes_an_instance_a_class_or_spec_and_factory():
    instance = PlainEncoder()

    class Natural:
        @hookimpl
        def stitch_register_encoders(self, register):
            register(instance)  # as simonw/llm plugins register model instances
            register(Doubler)  # a class: its spec attribute describes it, the class is the factory
            register(scale_spec("pair"), lambda: Scale(scale_spec("pair")))

    record = registry.register_plugin(Natural(), "natural")
    assert record.registered == {"encoders": 3} and record.notes == ()
    assert stitch.list_encoders() == ["doubler", "pair", "plain-enc"]
    assert stitch.create_encoder("plain-enc") is instance
    spec = stitch.get_encoder_spec("plain-enc")
    assert (spec.dim, spec.description, spec.plugin) == (3, "A protocol-only encoder with class attributes (no spec).",
                                                         "natural")
    with pytest.raises(TypeError, match=r"encoder 'plain-enc' was registered as a ready-made instance and takes no "
                                        r"options; got \['batch_size'\]"):
        stitch.create_encoder("plain-enc", batch_size=2)
    assert stitch.create_encoder("doubler", batch_size=2).encode([1.0]).tolist() == [[2.0, 2.0, 2.0]]


def test_a_plugin_name_that_collides_with_a_builtin_never_shadows_it_and_is_reported():
    class Shadow:
        @hookimpl
        def stitch_register_similarities(self, register):
            register("cosine", lambda x, a: torch.zeros(len(x), len(a)), invariances=())

    with pytest.warns(registry.PluginLoadWarning, match=r"plugin 'shadow': registers similarities name 'cosine', "
                                                        r"which is built in: the built-in keeps the bare name; this "
                                                        r"plugin's is reachable as 'shadow:cosine'"):
        record = registry.register_plugin(Shadow(), "shadow")
    assert len(record.notes) == 1
    x = torch.eye(3)
    assert torch.equal(stitch.relative_projection(x, x, "cosine"), x)  # still the built-in
    assert torch.equal(stitch.relative_projection(x, x, "shadow:cosine"), torch.zeros(3, 3))
    assert registry.clashes()["similarities"] == {"cosine": ["builtin", "shadow"]}


def test_a_name_registered_twice_by_one_plugin_is_reported():
    class Twice:
        @hookimpl
        def stitch_register_encoders(self, register):
            register(scale_spec("twice"), lambda: Scale(scale_spec("twice")))
            register(scale_spec("twice"), lambda: Scale(scale_spec("twice")))

    with pytest.warns(registry.PluginLoadWarning, match=r"registers encoders name 'twice' twice; the last "
                                                        r"registration is kept"):
        record = registry.register_plugin(Twice(), "twice")
    assert record.ok and record.registered == {"encoders": 2}


def test_a_plugin_printing_while_it_registers_writes_to_stderr(capsys):
    class Chatty:
        @hookimpl
        def stitch_register_encoders(self, register):
            print("hello from a plugin")
            register(scale_spec("chatty"), lambda: None)

    registry.register_plugin(Chatty(), "chatty")
    out, err = capsys.readouterr()
    assert out == "" and err == "hello from a plugin\n"


def test_builtin_names_resolve_without_loading_plugins():
    from stitch.registry.manager import HOST

    registry.reset_plugins()
    assert stitch.get_similarity("cosine").name == "cosine" and stitch.get_metric("procrustes").kind == "distance"
    assert HOST.loaded is False
    with pytest.raises(UnknownNameError):
        stitch.get_similarity("no-such-similarity")  # a miss loads the plugins, then says what is known
    assert HOST.loaded is True


def test_a_pattern_matches_names_not_the_builtin_prefix() -> None:
    # every built-in's qualified name is "builtin:<name>": "b*" once listed them all
    from stitch.core.similarity import list_similarities

    assert list_similarities("b*") == []
    assert list_similarities("builtin:co*") == list_similarities("co*") == ["cosine"]
