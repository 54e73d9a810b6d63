"""Whether a candidate (a backbone, say) should replace the default: a rule fixed before the results.

The candidate is adopted only if it is **better**, i.e. its paired difference from the default
(``a − default`` over the same targets, :func:`rlattn.evaluation.seeds.compare`) has a confidence
interval above zero, **and not slower** at the speed that matters (fast mode with λ = 5 on the
machine where both were timed). Either failing is named, so a table can say why a candidate stays
out.
"""

from __future__ import annotations

from rlattn.evaluation.statistics import Estimate


def adoption(delta: Estimate, fps: float | None, fps_default: float | None) -> tuple[bool, str]:
    """``(adopt, reason)``: ``(True, "yes")``, or ``(False, "no: …")`` naming what failed. A missing
    interval (one seed) or a missing speed counts as failing that part."""
    better = delta.has_ci and delta.low > 0
    not_slower = fps is not None and fps_default is not None and fps >= fps_default
    if better and not_slower:
        return True, "yes"
    reasons = []
    if not better:
        reasons.append("Δ not above 0" if delta.has_ci else "no interval (one seed)")
    if not not_slower:
        reasons.append("slower at λ = 5" if fps is not None and fps_default is not None else "speed not measured")
    return False, "no: " + ", ".join(reasons)
