"""Zero-shot stitching experiments: configuration files, the stitching matrix, reports.

Example:
    >>> from stitch.experiment import parse_experiment
    >>> parse_experiment({"name": "t", "dataset": {"name": "digits"}, "encoders": [{"name": "a"}],
    ...                   "spaces": ["absolute"]}).seeds
    [0]
"""

from stitch.experiment.config import ExperimentConfig, load_experiment, parse_experiment
from stitch.experiment.runner import ExperimentResult, run_experiment, stitching_matrix

__all__ = [
    "ExperimentConfig", "ExperimentResult", "load_experiment", "parse_experiment", "run_experiment", "stitching_matrix",
]
