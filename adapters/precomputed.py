"""``file:<path>``: latents computed elsewhere, served by sample id, for auditing external embeddings.

The file is safetensors with one ``(n, dim)`` tensor ``latents`` and metadata ``ids`` (a JSON list of
``n`` unique sample ids) and optionally ``modality`` and ``source``; :func:`save_precomputed` writes one.
``encode`` takes sample ids (``LatentCache`` passes the dataset's ids for encoders like this one) and
returns their rows in the order asked; ids missing from the file raise a ``KeyError`` naming them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from stitch.encoder import BaseEncoder, EncoderSpec
from stitch.utils.files import not_found

if TYPE_CHECKING:
    import torch

hookimpl = pluggy.HookimplMarker("stitch")

__all__ = ["PrecomputedEncoder", "save_precomputed"]

PREFIX = "file:"


def save_precomputed(path: str | os.PathLike[str], ids: Sequence[str], latents: Any, *, modality: str = "any",
                     source: str = "") -> None:
    """Write latents and their sample ids in the format ``file:<path>`` reads (atomically).

    Shapes:
        latents: ``(n, dim)``;  ids: ``n`` unique strings.

    Example:
        >>> import tempfile, torch
        >>> p = tempfile.mkdtemp() + "/z.safetensors"
        >>> save_precomputed(p, ["a", "b"], torch.eye(2), source="demo")
        >>> PrecomputedEncoder(p).encode(["b", "a"]).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    from stitch.utils.checks import as_matrix
    from stitch.utils.files import save_tensors

    z = as_matrix(latents, "latents").float()
    ids = [str(i) for i in ids]
    if len(ids) != z.shape[0]:
        raise ValueError(f"{len(ids)} ids for {z.shape[0]} latent rows; expected one id per row")
    if len(set(ids)) != len(ids):
        raise ValueError("ids are not unique; each latent row needs its own sample id")
    save_tensors(path, {"latents": z}, {"ids": json.dumps(ids), "modality": modality, "source": source})


class PrecomputedEncoder(BaseEncoder):
    """Serves the rows of a latents file by sample id.

    Args:
        path: safetensors file written by :func:`save_precomputed` (or in that format).
        batch_size: unused beyond batching the lookups.

    Shapes:
        encode: ``n`` sample ids  ->  ``(n, dim)``

    Example:
        >>> # PrecomputedEncoder("embeddings.safetensors").encode(["digits-0001", "digits-0007"])
    """

    #: LatentCache passes sample ids, not raw inputs, to encoders that set this.
    inputs_are_ids = True

    def __init__(self, path: str | os.PathLike[str], *, batch_size: int = 4096) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise FileNotFoundError(f"latents file {not_found(self.path)}; pass a .safetensors file written by "
                                    "stitch.adapters.precomputed.save_precomputed")
        from safetensors import safe_open

        try:  # the header alone: modality and dim, without reading the latents
            with safe_open(os.fspath(self.path), framework="pt") as f:
                meta = dict(f.metadata() or {})
                shape = f.get_slice("latents").get_shape() if "latents" in f.keys() else None
        except Exception as exc:  # safetensors' own error type for a damaged header
            raise ValueError(f"{self.path} is not a readable safetensors file ({exc})") from None
        if shape is None or len(shape) != 2 or "ids" not in meta:
            raise ValueError(f"{self.path} is not a latents file: expected a 2-D tensor 'latents' and metadata 'ids' "
                             "(write it with stitch.adapters.precomputed.save_precomputed)")
        spec = EncoderSpec(f"{PREFIX}{path}", meta.get("modality", "any") or "any",
                           f"precomputed latents from {self.path.name}" + (f" ({meta['source']})" if meta.get("source")
                                                                           else ""),
                           dim=int(shape[1]), weights=f"precomputed file: {self.path}", license="as the file's source",
                           options={"path": os.fspath(self.path)})
        super().__init__(spec, batch_size=batch_size)

    def _load(self) -> None:
        from stitch.utils.files import load_tensors

        tensors, meta, self._sha256 = load_tensors(self.path, what="latents file")
        self._z = tensors["latents"].float()
        try:
            ids = json.loads(meta["ids"])
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.path}: its 'ids' metadata is not JSON ({exc}); expected a JSON list of sample ids "
                             "(write the file with stitch.adapters.precomputed.save_precomputed)") from None
        if not isinstance(ids, list):
            raise ValueError(f"{self.path}: its 'ids' metadata is a JSON {type(ids).__name__}, expected a list of "
                             "sample ids (write the file with stitch.adapters.precomputed.save_precomputed)")
        self._row = {str(i): r for r, i in enumerate(ids)}
        if len(self._row) != len(ids) or len(ids) != len(self._z):
            raise ValueError(f"{self.path}: ids must be unique and one per latent row")

    def sample_inputs(self, n: int = 6) -> list[str]:
        """The first ``n`` sample ids stored in the file."""
        self._ensure_loaded()
        return list(self._row)[:n]

    def _prepare(self, inputs: Any) -> list[str]:
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, Sequence) or not all(isinstance(i, str) for i in inputs):
            raise TypeError(f"{self.name} takes sample ids (a list of str), got {type(inputs).__name__}"
                            + ("" if not isinstance(inputs, Sequence) else " with non-string items"))
        if not inputs:
            raise ValueError("inputs are empty; expected at least one sample id")
        self._ensure_loaded()
        missing = [i for i in inputs if i not in self._row]
        if missing:
            raise KeyError(f"{len(missing)} of {len(inputs)} sample ids are not in {self.path.name} "
                           f"(e.g. {missing[:3]}); the file holds {len(self._row)} ids such as {list(self._row)[:3]}")
        return list(inputs)

    def _encode_batch(self, batch: list[str]) -> torch.Tensor:
        import torch

        return self._z[torch.as_tensor([self._row[i] for i in batch], dtype=torch.long)]

    def fingerprint(self) -> dict[str, Any]:
        """The sha256 of the file's bytes as loaded: a modified file never serves stale cached rows."""
        self._ensure_loaded()
        return {"name": self.name, "class": type(self).__name__, "weights": {"file_sha256": self._sha256}}


def resolve(name: str) -> tuple[EncoderSpec, Any] | None:
    """``file:<path>`` -> (spec, factory)."""
    if not name.startswith(PREFIX):
        return None
    path = name[len(PREFIX):]
    spec = EncoderSpec(name, "any", f"precomputed latents from {Path(path).name}", weights=f"precomputed file: {path}",
                       license="as the file's source")

    def factory(**options: Any) -> PrecomputedEncoder:
        return PrecomputedEncoder(path, **options)

    return spec, factory


@hookimpl
def stitch_register_encoder_families(register: Any) -> None:
    """Declare ``file:<path>``."""
    register("file", "latents computed elsewhere, served by sample id (stitch.adapters.precomputed.save_precomputed)",
             placeholder="<path.safetensors>")


@hookimpl
def stitch_resolve_encoder(name: str) -> tuple[EncoderSpec, Any] | None:
    """Resolve ``file:<path>``."""
    return resolve(name)
