"""Input validation shared by every public function.

Each check raises an error that says what was received, what was expected and how to fix it, so users
never see a silent NaN or a stack trace from deep inside torch.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch


__all__ = [
    "as_matrix",
    "check_seed",
    "check_finite",
    "check_same_dim",
    "check_paired",
    "check_choice",
    "check_positive_int",
    "check_fitted",
    "compute_dtype",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32 (half precision is computed in float32).

    Example:
        >>> compute_dtype(torch.ones(2, dtype=torch.float16), torch.ones(2, dtype=torch.bfloat16))
        torch.float32
        >>> compute_dtype(torch.ones(2), torch.ones(2, dtype=torch.float64))
        torch.float64
    """
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def as_matrix(
    x: Any,
    name: str = "x",
    *,
    allow_empty: bool = False,
    finite: bool = True,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Validate and convert ``x`` to a floating 2-D tensor of shape ``(n, d)``.

    Numpy arrays and nested lists are accepted (object arrays of numbers too). Integer and half-precision
    inputs become float32, float64 stays float64 unless ``dtype`` forces one. NaN/Inf rows raise with the
    first bad row index; sparse matrices, complex and boolean data raise. Messages contain the phrases
    scikit-learn's estimator checks look for ("Reshape your data", "Complex data not supported", ...).

    Shapes:
        x: ``(n, d)``  ->  ``(n, d)``

    Example:
        >>> as_matrix([[1, 2], [3, 4]]).dtype
        torch.float32
    """
    if type(x).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name} is a scipy sparse matrix; sparse input is not supported: pass {name}.toarray()")
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            try:
                x = x.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must be a numeric array, got a numpy array of dtype=object whose elements "
                                f"are not all numbers ({exc})") from None
        if np.iscomplexobj(x):
            raise ValueError(f"{name} is complex ({x.dtype}): Complex data not supported; pass real-valued latents")
        # torch cannot share a read-only buffer (a memory-mapped file, a broadcast view): copy that one
        x = torch.from_numpy(np.ascontiguousarray(x) if x.flags.writeable else np.array(x))
    elif not isinstance(x, torch.Tensor):
        try:
            # No forced dtype: integer lists follow the integer rule below (float32), Python floats stay float64.
            arr = np.asarray(x)
            if arr.dtype == object or arr.dtype.kind in "USV":
                raise TypeError(f"elements of dtype {arr.dtype} are not numbers")
            x = torch.as_tensor(arr)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} must be a 2-D torch.Tensor or numpy array of shape (n, d), "
                f"got {type(x).__name__} that cannot be converted ({exc})"
            ) from None
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (n_samples, n_features), got shape {tuple(x.shape)}; "
            f"Reshape your data, e.g. {name.split()[0]}.reshape(len({name.split()[0]}), -1) (or .reshape(1, -1) "
            "for a single sample)"
        )
    if x.is_complex():
        raise ValueError(f"{name} is complex ({x.dtype}): Complex data not supported; pass real-valued latents")
    if x.dtype == torch.bool:
        raise TypeError(f"{name} must be real-valued, got dtype {x.dtype}")
    if x.is_meta:
        raise ValueError(f"{name} is on the 'meta' device (a shape without data); pass a tensor holding values")
    if dtype is not None:
        x = x.to(dtype)
    elif not x.is_floating_point() or x.dtype in _LOW_PRECISION:
        x = x.to(torch.float32)
    if not allow_empty and (x.shape[0] == 0 or x.shape[1] == 0):
        what = "sample" if x.shape[0] == 0 else "feature"
        raise ValueError(f"{name} is empty: 0 {what}(s) (shape={tuple(x.shape)}) while a minimum of 1 is required; "
                         "expected at least one sample and one feature")
    if finite:
        check_finite(x, name)
    return x


def check_finite(x: torch.Tensor, name: str = "x") -> None:
    """Raise ``ValueError`` naming the first row of ``x`` that holds NaN or Inf.

    Example:
        >>> check_finite(torch.zeros(2, 3))
    """
    # One reduction pass, no boolean copy: NaN/Inf always reach the sum, so a finite sum proves every entry
    # finite; only an infinite sum (or an overflow of large finite values) pays for the row-locating check.
    if x.numel() == 0 or bool(torch.isfinite(x.sum())):
        return
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        rows = bad.reshape(len(x), -1).any(dim=1).nonzero().flatten()
        first = int(rows[0])
        raise ValueError(
            f"{name} contains NaN or Inf in {len(rows)} row(s), first at row {first}; "
            "drop or impute those rows before calling"
        )


def check_same_dim(x: torch.Tensor, other: torch.Tensor, names: tuple[str, str] = ("x", "anchors"),
                   estimator: str = "") -> None:
    """Raise if the feature dimensions of two ``(n, d)`` matrices differ.

    With ``estimator`` (the class whose fitted width ``other`` is), the message uses scikit-learn's wording
    ("X has 3 features, but E is expecting 4 features as input"), which its estimator checks look for.

    Example:
        >>> check_same_dim(torch.zeros(2, 3), torch.zeros(5, 3))
    """
    if x.shape[1] == other.shape[1]:
        return
    if estimator:
        raise ValueError(
            f"X has {x.shape[1]} features, but {estimator} is expecting {other.shape[1]} features as input (the width "
            f"of its {names[1]}); {names[0]} and {names[1]} must come from the same latent space"
        )
    raise ValueError(
        f"dimension mismatch: {names[0]} has {x.shape[1]} features but {names[1]} has {other.shape[1]}; "
        f"both must come from the same latent space"
    )


def check_paired(x: torch.Tensor, y: torch.Tensor, names: tuple[str, str] = ("x", "y")) -> None:
    """Raise if two matrices do not have one row per sample in common.

    Example:
        >>> check_paired(torch.zeros(4, 3), torch.zeros(4, 7))
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{names[0]} has {x.shape[0]} samples but {names[1]} has {y.shape[0]}; paired inputs need one row "
            "per sample in both, in the same order"
        )


def check_choice(value: Any, choices: Iterable[str], what: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing them (with a close match).

    Example:
        >>> check_choice("mean", ["mean", "sum"], "aggregation")
        'mean'
    """
    options: Sequence[str] = sorted(choices)
    if value in options:
        return value
    close = difflib.get_close_matches(str(value), options, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(map(repr, options))}.{hint}")


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int if it is an integer >= 1, else raise.

    Example:
        >>> check_positive_int(3, "n")
        3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_seed(seed: Any, name: str = "seed") -> int:
    """Return ``seed`` as an int if it is an integer (not a bool), else raise naming it.

    Example:
        >>> check_seed(3)
        3
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(seed).__name__} ({seed!r})")
    return int(seed)


def check_fitted(estimator: Any, attributes: Iterable[str]) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has every learned attribute.

    Example:
        >>> class E: coef_ = 1
        >>> check_fitted(E(), ["coef_"])
    """
    missing = [a for a in attributes if getattr(estimator, a, None) is None]
    if missing:
        from stitch.errors import NotFittedError

        cls = type(estimator).__name__
        raise NotFittedError(f"this {cls} is not fitted yet; call {cls}.fit(...) before using it")
