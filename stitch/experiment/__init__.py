"""Zero-shot stitching experiments: configuration files, decoders, training, the stitching matrix, reports.

Example:
    >>> from stitch.experiment import parse_experiment
    >>> parse_experiment({"name": "t", "dataset": {"name": "digits"}, "encoders": [{"name": "a"}],
    ...                   "spaces": ["absolute"]}).seeds
    [0]
"""

from stitch.experiment.config import ExperimentConfig, load_experiment, parse_experiment
from stitch.experiment.matrix import stitching_matrix
from stitch.experiment.results import ExperimentResult
from stitch.experiment.runner import check_experiment, run_experiment

__all__ = [
    "ExperimentConfig", "ExperimentResult", "check_experiment", "load_experiment", "parse_experiment",
    "run_experiment", "stitching_matrix",
]
