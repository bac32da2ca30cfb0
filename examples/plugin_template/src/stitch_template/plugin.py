"""The hooks latent-stitch calls; named by the ``stitch`` entry point in ``pyproject.toml``.

Registration only describes things: the encoder module is light and torch is imported when encoding.
"""

from __future__ import annotations

from stitch import hookimpl

from stitch_template.encoder import SPEC, NgramHashEncoder


@hookimpl
def stitch_register_encoders(register):
    register(SPEC, NgramHashEncoder)


@hookimpl
def stitch_register_similarities(register):
    from stitch_template.similarity import angular

    register("angular", angular, invariances=("orthogonal", "isotropic_scaling"),
             description="1 - arccos(cosine) / pi, in [0, 1]")
