"""Reading and validating experiment files: structure (:mod:`stitch.experiment.config`), then the rules of the
file's protocol (:mod:`stitch.experiment.protocols`), every problem named by its field path.

Example:
    >>> parse_experiment({"name": "t", "dataset": {"name": "digits"}, "spaces": ["relative:cosine"],
    ...                   "encoders": [{"name": "minilm"}], "protocol": "end-to-end"})
    Traceback (most recent call last):
    ...
    stitch.errors.ConfigError: invalid experiment config:
      encoders[0]: protocol 'end-to-end' trains every encoder with its space and decoder, but 'minilm' has no train table; add train = { seed = 0, epochs = ... }
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stitch.errors import ConfigError
from stitch.experiment.config import ExperimentConfig
from stitch.utils.configfiles import read_table, roots_relative_to, validate

__all__ = ["parse_experiment", "load_experiment", "check_protocol"]


def check_protocol(cfg: ExperimentConfig, *, source: str = "config") -> ExperimentConfig:
    """``cfg`` if its protocol exists and accepts it; else a :class:`ConfigError` listing every problem.

    Example:
        >>> cfg = parse_experiment({"name": "t", "dataset": {"name": "digits"}, "spaces": ["absolute"],
        ...                         "encoders": [{"name": "a"}]})
        >>> check_protocol(cfg.model_copy(update={"protocol": "frozn"}))
        Traceback (most recent call last):
        ...
        stitch.errors.ConfigError: invalid experiment config:
          protocol: unknown protocol 'frozn'; did you mean 'frozen'? Known: 'end-to-end', 'frozen'. Run `stitch protocols list` to see them all.
    """
    from stitch.experiment.protocols import get_protocol

    try:
        problems = get_protocol(cfg.protocol).check(cfg)
    except LookupError as exc:
        problems = [f"protocol: {exc}"]
    if problems:
        raise ConfigError(f"invalid experiment {source}:\n  " + "\n  ".join(problems))
    return cfg


def parse_experiment(data: Any, *, source: str = "config") -> ExperimentConfig:
    """Validate a dict (as read from TOML/YAML) into an :class:`ExperimentConfig`, its protocol's rules included.

    Raises :class:`ConfigError` naming every bad field path and the allowed values.

    Example:
        >>> cfg = parse_experiment({"name": "t", "dataset": {"name": "digits"},
        ...                         "encoders": [{"name": "a"}], "spaces": ["relative:cosine"]})
        >>> cfg.spaces[0].kind, cfg.spaces[0].argument
        ('relative', 'cosine')
    """
    return check_protocol(validate(ExperimentConfig, data, what="experiment", source=source), source=source)


def load_experiment(path: str | os.PathLike[str]) -> ExperimentConfig:
    """Read and validate an experiment file (``.toml``, ``.yaml`` / ``.yml``, or ``.json``).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "e.toml"
        >>> _ = p.write_text('name = "t"\\nspaces = ["absolute"]\\n[dataset]\\nname = "digits"\\n'
        ...                  '[[encoders]]\\nname = "a"\\n')
        >>> load_experiment(p).name
        't'
    """
    table = roots_relative_to(read_table(path, what="experiment"), Path(path).resolve().parent)
    return parse_experiment(table, source=f"file {str(Path(path))!r}")
