"""Zero-shot stitching experiments: configuration files, protocols (frozen encoders, or trained end to end with a
relative or product space as a layer), decoders, training, the stitching matrix, reports.

Example:
    >>> from stitch.experiment import parse_experiment
    >>> parse_experiment({"name": "t", "dataset": {"name": "digits"}, "encoders": [{"name": "a"}],
    ...                   "spaces": ["absolute"]}).seeds
    [0]
"""

from stitch.experiment.config import ExperimentConfig
from stitch.experiment.files import load_experiment, parse_experiment
from stitch.experiment.endtoend import stitch_end_to_end, train_end_to_end
from stitch.experiment.matrix import stitching_matrix
from stitch.experiment.results import ExperimentResult
from stitch.experiment.runner import check_experiment, run_experiment

__all__ = [
    "ExperimentConfig", "ExperimentResult", "check_experiment", "load_experiment", "parse_experiment",
    "run_experiment", "stitch_end_to_end", "stitching_matrix", "train_end_to_end",
]
