"""Audit files (``stitch audit --config FILE``): pydantic models with the experiment files' encoder syntax and
errors that name the field path.

Example file (TOML)::

    dataset = "trec"                       # or { name = "trec", options = { label = "fine" } }
    split = "test"
    n = 2000
    metrics = ["linear_cka", "mutual_knn"]
    out = "runs/audit-trec"
    data_root = "../shared/data"

    [[encoders]]
    name = "minilm"
    [[encoders]]
    name = "hf:paraphrase-MiniLM-L3-v2"
    label = "L3"

    [metric_options.mutual_knn]
    k = 20

``encoders`` may also be a list of references (``["minilm", "minilm?layer=3"]``, the ``--encoders`` syntax) or
a table ``label = "reference"``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from stitch.encoder.refs import DatasetRef, EncoderRef
from stitch.utils.configfiles import StrictModel, read_table, roots_relative_to, validate

__all__ = ["AuditConfig", "parse_audit", "load_audit"]


def _split_names(value: Any) -> Any:
    """``"a,b"`` or ``["a", "b,c"]`` as a list of names (the CLI's comma-separated spelling)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for item in value for v in item.split(",") if v.strip()]
    return value


def _labelled(label: str, ref: Any) -> Any:
    """One entry of the ``label = reference`` table as an encoder table; options written beside ``name`` (the
    spelling before audit files shared the experiment files' syntax) move into ``options``, with a warning."""
    if isinstance(ref, str):
        return {"label": label, **EncoderRef.model_validate(ref).model_dump(exclude={"label"})}
    if not isinstance(ref, dict):
        return ref
    inline = {k: v for k, v in ref.items() if k not in EncoderRef.model_fields}
    if inline and isinstance(ref.get("name"), str):
        import warnings

        from stitch.utils.deprecation import REMOVED_IN

        warnings.warn(f"options beside name in encoders.{label} ({', '.join(inline)}) is deprecated and will be "
                      f"removed in latent-stitch {REMOVED_IN}; write {label} = {{ name = {ref['name']!r}, options = "
                      "{ ... } }", DeprecationWarning, stacklevel=2)
        ref = {**{k: v for k, v in ref.items() if k not in inline}, "options": {**ref.get("options", {}), **inline}}
    return {"label": label, **ref}


#: the most permutation or bootstrap draws per cell an audit accepts
MAX_DRAWS = 100_000


class AuditConfig(StrictModel):
    """A whole audit: which encoders, on which data, under which measures (see the module docstring for a file).

    ``split = "all"`` audits every sample; ``layers`` makes it a layer x layer audit of one or two encoders;
    ``sanity`` adds the grounding tests (``sanity_train``: an architecture to train for the label-randomisation
    test). ``data_root`` / ``models_root`` / ``cache_root`` are where the data, local weights and the latent cache
    are (each defaults to its ``$STITCH_*`` variable).
    """

    encoders: list[EncoderRef] = Field(min_length=1)
    dataset: DatasetRef
    split: str = "test"
    metrics: list[str] | None = None
    n: int | None = Field(None, ge=1)
    seed: int = 0
    # beyond 100,000 draws a p-value or an interval changes in the fifth digit while the run takes hours
    permutations: int = Field(0, ge=0, le=MAX_DRAWS)
    bootstrap: int = Field(0, ge=0, le=MAX_DRAWS)
    confidence: float = Field(0.95, gt=0, lt=1)
    out: str = Field(min_length=1)
    layers: list[int] | None = None
    metric_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    data_root: str | None = None
    models_root: str | None = None
    cache_root: str | None = Field(None, validation_alias=AliasChoices("cache_root", "cache"))
    color_range: Literal["data", "declared"] = "data"
    order: Literal["cluster", "given"] = "cluster"
    sanity: bool = False
    sanity_train: str | None = None

    @field_validator("encoders", mode="before")
    @classmethod
    def _encoder_forms(cls, value: Any) -> Any:
        if isinstance(value, dict):  # label = "reference" or label = { name = ..., options = { ... } }
            return [_labelled(label, ref) for label, ref in value.items()]
        return _split_names(value)

    @field_validator("metrics", mode="before")
    @classmethod
    def _metric_list(cls, value: Any) -> Any:
        return _split_names(value)

    @field_validator("layers", mode="before")
    @classmethod
    def _layer_list(cls, value: Any) -> Any:
        return _split_names(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _unique(self) -> AuditConfig:
        labels = [e.display for e in self.encoders]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"encoders must be unique, {', '.join(map(repr, dup))} appear(s) twice; give each a "
                             "distinct label")
        return self

    @property
    def references(self) -> dict[str, str]:
        """``{label: "name?key=value"}`` of the encoders, in order."""
        return {e.display: e.reference for e in self.encoders}

    @property
    def split_name(self) -> str | None:
        """The split to audit (``None`` for ``"all"``)."""
        return None if self.split == "all" else self.split


def parse_audit(data: Any, *, source: str = "config") -> AuditConfig:
    """Validate a dict (as read from a file, flags merged in) into an :class:`AuditConfig`.

    Example:
        >>> cfg = parse_audit({"encoders": "minilm,minilm?layer=3", "dataset": "trec", "out": "runs/a"})
        >>> cfg.references, cfg.dataset.name
        ({'minilm': 'minilm', 'minilm?layer=3': 'minilm?layer=3'}, 'trec')
        >>> parse_audit({"encoders": ["minilm", "minilm"], "dataset": "trec", "out": "a"})
        Traceback (most recent call last):
        ...
        stitch.errors.ConfigError: invalid audit config:
          (top level): encoders must be unique, 'minilm' appear(s) twice; give each a distinct label
    """
    return validate(AuditConfig, data, what="audit", source=source)


def load_audit(path: str | os.PathLike[str]) -> AuditConfig:
    """Read and validate an audit file (``.toml``, ``.yaml`` / ``.yml``, or ``.json``).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.toml"
        >>> _ = p.write_text('dataset = "digits"\\nout = "runs/a"\\nencoders = ["a", "b"]\\n')
        >>> load_audit(p).references
        {'a': 'a', 'b': 'b'}
    """
    table = roots_relative_to(read_table(path, what="audit"), Path(path).resolve().parent)
    return parse_audit(table, source=f"file {str(Path(path))!r}")
