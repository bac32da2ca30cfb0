"""scikit-learn's estimator protocol without importing scikit-learn, and safetensors files of fitted estimators.

:class:`Estimator` gives a class whose ``__init__`` only stores its parameters what ``sklearn.base.clone``,
``GridSearchCV`` and ``Pipeline`` expect: ``get_params(deep=...)``, ``set_params(**params)`` (nested
``step__param`` names too), a repr of the non-default parameters, ``__sklearn_tags__`` and
``__sklearn_is_fitted__``. Importing scikit-learn costs about a second, so it happens only when scikit-learn
itself asks (tags) or an unfitted estimator raises.

:func:`save_fitted` / :func:`load_fitted` store a fitted estimator as one safetensors file: its tensors plus
JSON metadata (class, parameters, library version) and the sha256 of the tensors, verified on load.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterable
from typing import Any

from stitch.utils.files import load_tensors, save_tensors, sha256_bytes, tensors_sha256

__all__ = ["Estimator", "save_fitted", "load_fitted", "load_fitted_state", "FITTED_FORMAT"]

#: ``metadata["format"]`` of the files :func:`save_fitted` writes.
FITTED_FORMAT = "latent-stitch-fitted/1"


class Estimator:
    """Mixin: the scikit-learn estimator protocol for classes whose ``__init__`` stores its parameters as is.

    Example:
        >>> class Scale(Estimator):
        ...     def __init__(self, factor=1.0, *, bias=0.0):
        ...         self.factor, self.bias = factor, bias
        >>> s = Scale(2.0)
        >>> s.get_params(), s.set_params(bias=1.0)
        ({'bias': 0.0, 'factor': 2.0}, Scale(factor=2.0, bias=1.0))
    """

    #: ``"transformer"``, ``"classifier"``, ``"regressor"`` or ``None`` (scikit-learn's estimator type tag).
    _estimator_kind: str | None = None
    #: attributes whose presence means "fitted"
    _fitted_attributes: tuple[str, ...] = ()

    @classmethod
    def _get_param_names(cls) -> list[str]:
        init = cls.__init__
        if init is object.__init__:
            return []
        params = inspect.signature(init).parameters.values()
        return sorted(p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters; with ``deep``, those of nested estimators too (as ``name__param``)."""
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
            out[name] = value
        return out

    def set_params(self, **params: Any) -> Any:
        """Set constructor parameters (``name__param`` reaches into nested estimators); returns ``self``."""
        valid = self._get_param_names()
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid parameters: "
                                 f"{', '.join(valid) or 'none'}")
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = []
        for name in inspect.signature(type(self).__init__).parameters:
            if name == "self" or name not in self._get_param_names():
                continue
            value = getattr(self, name)
            default = defaults.get(name, inspect.Parameter.empty)
            if default is inspect.Parameter.empty or not _same(value, default):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_is_fitted__(self) -> bool:
        return all(getattr(self, a, None) is not None for a in self._fitted_attributes)

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags, TransformerTags

        kind = self._estimator_kind
        return Tags(
            estimator_type=kind,
            target_tags=TargetTags(required=kind in ("classifier", "regressor")),
            transformer_tags=TransformerTags() if kind == "transformer" else None,
            classifier_tags=ClassifierTags() if kind == "classifier" else None,
            regressor_tags=RegressorTags() if kind == "regressor" else None,
            input_tags=InputTags(allow_nan=False),
        )


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # arrays and tensors compare elementwise: treat them as "not the default"
        return False


def save_fitted(path: str | os.PathLike[str], estimator: Any, tensors: dict[str, Any],
                fitted: dict[str, Any] | None = None) -> str:
    """Write ``estimator``'s parameters and fitted ``tensors`` to one safetensors file; returns its sha256.

    Parameters must be JSON values (a similarity passed as a Python callable cannot be saved: register it
    and pass its name); ``fitted`` holds learned values that are not tensors (JSON too). One sha256 over the
    parameters, ``fitted`` and the tensors goes into the header and is checked on load.

    Example:
        >>> import tempfile, torch
        >>> class Scale(Estimator):
        ...     def __init__(self, factor=1.0):
        ...         self.factor = factor
        >>> p = tempfile.mkdtemp() + "/s.safetensors"
        >>> _ = save_fitted(p, Scale(2.0), {"w": torch.ones(2)}, {"choice": "w"})
        >>> params, tensors, fitted = load_fitted_state(p, Scale)
        >>> params, tensors["w"].tolist(), fitted
        ({'factor': 2.0}, [1.0, 1.0], {'choice': 'w'})
    """
    from stitch import __version__

    params = estimator.get_params(deep=False)
    try:
        encoded = json.dumps(params, sort_keys=True)
        state = json.dumps(fitted or {}, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"cannot save this {type(estimator).__name__}: its parameters must be JSON values "
                        f"({exc}); pass registered names instead of Python callables") from None
    digest = tensors_sha256(tensors)
    meta = {"format": FITTED_FORMAT, "class": _class_path(type(estimator)), "params": encoded, "fitted": state,
            "latent-stitch": __version__, "tensors_sha256": digest,
            "content_sha256": _content_sha256(encoded, state, digest)}
    return save_tensors(path, tensors, meta)


def _content_sha256(params: str, fitted: str, tensors_digest: str) -> str:
    # parameters, fitted values and tensors under one checksum: an edited parameter is a damaged file too
    return sha256_bytes(f"{params}\x1f{fitted}\x1f{tensors_digest}".encode())


def load_fitted(path: str | os.PathLike[str], cls: type, *, expected_sha256: str | None = None,
                required: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(params, tensors)`` of a file :func:`save_fitted` wrote for an estimator of class ``cls``.

    Raises ``ValueError`` when the file is not such a file, holds another class, or its parameters or tensors
    do not match the recorded sha256 (truncated or modified); with ``expected_sha256`` (e.g. from a manifest),
    a file whose bytes differ raises :class:`~stitch.utils.files.ChecksumError`, checked in the same read.
    """
    params, tensors, _ = load_fitted_state(path, cls, expected_sha256=expected_sha256, required=required)
    return params, tensors


def load_fitted_state(path: str | os.PathLike[str], cls: type, *, expected_sha256: str | None = None,
                      required: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(params, tensors, fitted)`` of a file :func:`save_fitted` wrote (see :func:`load_fitted`); ``required``
    names the tensors the class needs (a file without one is refused, naming it)."""
    data_path = os.fspath(path)
    tensors, meta, _ = load_tensors(data_path, expected_sha256=expected_sha256, what="fitted estimator")
    if meta.get("format") != FITTED_FORMAT:
        raise ValueError(f"{data_path} is not a fitted latent-stitch estimator (format {meta.get('format')!r}, "
                         f"expected {FITTED_FORMAT!r}); write one with .save(path)")
    if meta.get("class") != _class_path(cls):
        raise ValueError(f"{data_path} holds a {meta.get('class')}, not a {_class_path(cls)}; load it with that "
                         "class")
    digest = tensors_sha256(tensors)
    if digest != meta.get("tensors_sha256"):
        raise ValueError(f"{data_path}: the tensors do not match the sha256 in the file's header (truncated or "
                         "modified); save the estimator again")
    if _content_sha256(meta.get("params", ""), meta.get("fitted", ""), digest) != meta.get("content_sha256"):
        raise ValueError(f"{data_path}: the parameters do not match the sha256 in the file's header (edited, or "
                         "written by a latent-stitch without parameter checksums); save the estimator again")
    try:
        params, fitted = json.loads(meta["params"]), json.loads(meta.get("fitted") or "{}")
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{data_path}: its parameters are not readable JSON ({type(exc).__name__}: {exc}); the file "
                         "is damaged: save the estimator again") from None
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise ValueError(f"{data_path}: its parameters are a JSON {type(params).__name__}, expected an object of "
                         f"{cls.__name__}'s parameters; the file is damaged: save the estimator again")
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
    unknown = sorted(set(params) - set(accepted))
    missing = sorted(set(required) - set(tensors))
    if unknown or missing:
        what = (f"parameter(s) {', '.join(map(repr, unknown))} that {cls.__name__} does not take (it takes "
                f"{', '.join(accepted) or 'none'})" if unknown else f"no tensor(s) {', '.join(map(repr, missing))}")
        raise ValueError(f"{data_path} holds {what}; it was written by another version or edited: save the "
                         "estimator again")
    return params, tensors, fitted


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
