"""Similarity audits: every metric between every pair of latent spaces, with statistics and reports.

* :mod:`~stitch.audits.compare` — metrics between already-computed latents (cell by cell);
* :mod:`~stitch.audits.statistics` — permutation p-values and bootstrap intervals, seeded per cell;
* :mod:`~stitch.audits.runner` — encoding through the cache, subsampling, layer x layer audits;
* :mod:`~stitch.audits.result` / :mod:`~stitch.audits.report` — the result and its files.

The package is named ``audits`` so that ``stitch.audit`` stays the function.
"""

from stitch.audits.runner import audit, audit_layers
from stitch.audits.compare import compare
from stitch.audits.result import AuditResult

__all__ = ["AuditResult", "audit", "audit_layers", "compare"]
