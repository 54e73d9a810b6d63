"""Statistics over seeds and targets: means with bootstrap confidence intervals, paired differences,
sign and Wilcoxon signed-rank tests. Pure numpy, vectorised.

Scores come as a ``(seeds, targets)`` matrix of one metric (AUC, DP@20, ...). DAT's trajectories
are chaotic (one target's AUC moves by 0.2 with the seed), so an interval must carry two sources of
variation: which targets were tracked and which seed each got. The bootstrap here is **two-level**:
each replicate draws targets with replacement, then, for every drawn target, seeds with replacement
(Davison & Hinkley's scheme for nested data). With one seed the seed level cannot be resampled and
no interval is given; the result says so instead of printing an interval that would only cover the
choice of targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

N_BOOT = 10_000
LEVEL = 0.95
BOOTSTRAP = "two-level percentile bootstrap (targets, then seeds within each target)"
ONE_SEED = "1 seed: the seed spread cannot be estimated, so no confidence interval"


@dataclass(frozen=True)
class Estimate:
    """A mean over targets and seeds with its confidence interval (``low``/``high`` None: no interval)."""

    mean: float
    low: float | None
    high: float | None
    n_targets: int
    n_seeds: int
    seed_sd: float | None = None  # standard deviation of the per-seed means (None for one seed)
    note: str | None = None

    @property
    def has_ci(self) -> bool:
        return self.low is not None

    def format(self, digits: int = 3) -> str:
        if not self.has_ci:
            return f"{self.mean:.{digits}f} (1 seed, no CI)"
        half = (self.high - self.low) / 2
        return f"{self.mean:.{digits}f} ± {half:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def to_dict(self) -> dict:
        return {
            "mean": self.mean,
            "ci_low": self.low,
            "ci_high": self.high,
            "level": LEVEL,
            "targets": self.n_targets,
            "seeds": self.n_seeds,
            "seed_sd": self.seed_sd,
            "method": BOOTSTRAP if self.has_ci else None,
            "note": self.note,
        }


@dataclass(frozen=True)
class Comparison:
    """``a − b`` per target (each averaged over its seeds), their mean with a CI, and two tests."""

    targets: list[str]
    delta: np.ndarray  # (targets,) mean over a's seeds − mean over b's seeds
    delta_low: np.ndarray | None  # (targets,) per-target CI from resampling seeds alone
    delta_high: np.ndarray | None
    mean: Estimate
    sign_p: float
    wilcoxon_p: float
    wins: int  # targets where a > b
    losses: int
    ties: int
    seeds_a: int
    seeds_b: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        per_target = {}
        for i, t in enumerate(self.targets):
            row = {"delta": float(self.delta[i])}
            if self.delta_low is not None:
                row.update(ci_low=float(self.delta_low[i]), ci_high=float(self.delta_high[i]))
            per_target[t] = row
        return {
            "mean_delta": self.mean.to_dict(),
            "per_target": per_target,
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
            "sign_test_p": self.sign_p,
            "wilcoxon_p": self.wilcoxon_p,
            "seeds_a": self.seeds_a,
            "seeds_b": self.seeds_b,
            "notes": self.notes,
        }


def _as_matrix(scores) -> np.ndarray:
    m = np.atleast_2d(np.asarray(scores, dtype=float))
    if m.ndim != 2 or m.size == 0:
        raise ValueError("scores must be a non-empty (seeds, targets) matrix")
    if np.isnan(m).any():
        raise ValueError("scores hold NaN: every seed needs a score on every target")
    return m


def _percentile_ci(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_means(scores: np.ndarray, n_boot: int = N_BOOT, rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """``n_boot`` two-level bootstrap replicates of the grand mean of a ``(seeds, targets)`` matrix."""
    m = _as_matrix(scores)
    rng = np.random.default_rng(rng)
    n_seeds, n_targets = m.shape
    targets = rng.integers(n_targets, size=(n_boot, n_targets))
    seeds = rng.integers(n_seeds, size=(n_boot, n_targets, n_seeds))
    return m[seeds, targets[:, :, None]].mean(axis=(1, 2))


def mean_ci(scores, n_boot: int = N_BOOT, level: float = LEVEL, rng: np.random.Generator | int | None = 0) -> Estimate:
    """Grand mean of a ``(seeds, targets)`` matrix with its two-level bootstrap CI (none for one seed)."""
    m = _as_matrix(scores)
    n_seeds, n_targets = m.shape
    mean = float(m.mean())
    if n_seeds < 2:
        return Estimate(mean, None, None, n_targets, n_seeds, None, ONE_SEED)
    low, high = _percentile_ci(bootstrap_means(m, n_boot, rng), level)
    return Estimate(mean, low, high, n_targets, n_seeds, float(m.mean(axis=1).std(ddof=1)))


def paired_difference(
    a,
    b,
    targets: list[str] | None = None,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    rng: np.random.Generator | int | None = 0,
) -> Comparison:
    """Configuration ``a`` minus ``b`` over the same targets (columns), each with its own seeds (rows).

    Seeds are not paired across configurations (seed 0 of λ = 5 and of λ = 0 share nothing after
    the first update), so each side's seeds are resampled independently within each drawn target.
    """
    return contrast([a, b], [1.0, -1.0], targets, n_boot, level, rng)


def difference_of_differences(
    a1,
    b1,
    a2,
    b2,
    targets: list[str] | None = None,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    rng: np.random.Generator | int | None = 0,
) -> Comparison:
    """``(a1 − b1) − (a2 − b2)`` per target: does an effect (``a − b``, e.g. λ = 5 − λ = 0) differ
    between two settings (1 and 2, e.g. exact and fast mode)? All four on the same targets.

    ``wins``/``losses`` count the targets where the effect is larger / smaller in setting 1.
    """
    return contrast([a1, b1, a2, b2], [1.0, -1.0, -1.0, 1.0], targets, n_boot, level, rng)


def contrast(
    matrices,
    weights,
    targets: list[str] | None = None,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    rng: np.random.Generator | int | None = 0,
) -> Comparison:
    """``Σ_k w_k · mean over seeds of matrices[k]`` per target, its mean over targets with the
    two-level bootstrap's CI, a CI per target from the seeds alone, and sign/Wilcoxon tests.

    Every matrix is ``(its seeds, targets)`` on the same targets; each one's seeds are resampled
    independently within every drawn target (configurations do not share seeds' trajectories).
    ``seeds_a``/``seeds_b`` of the result: the fewest seeds among the matrices of positive /
    negative weight.
    """
    mats = [_as_matrix(m) for m in matrices]
    w = [float(x) for x in weights]
    if len(mats) != len(w) or len(mats) < 2:
        raise ValueError("a contrast needs two or more matrices and one weight each")
    n_targets = mats[0].shape[1]
    if any(m.shape[1] != n_targets for m in mats):
        shapes = ", ".join(str(m.shape[1]) for m in mats)
        raise ValueError(f"the matrices have {shapes} targets: compare them on the same targets")
    targets = list(targets) if targets is not None else [str(i) for i in range(n_targets)]
    delta = sum(wk * m.mean(axis=0) for wk, m in zip(w, mats))
    wins, losses = int((delta > 0).sum()), int((delta < 0).sum())
    notes: list[str] = []
    n_seeds = [m.shape[0] for m in mats]
    seeds_a = min(n for n, wk in zip(n_seeds, w) if wk > 0)
    seeds_b = min((n for n, wk in zip(n_seeds, w) if wk < 0), default=seeds_a)
    seed_sd = None
    if min(n_seeds) < 2:
        if len(mats) == 2:
            which = "both have" if max(n_seeds) < 2 else ("a has" if n_seeds[0] < 2 else "b has")
        else:
            which = f"{sum(n < 2 for n in n_seeds)} of {len(mats)} have"
        notes.append(f"{ONE_SEED} ({which} one seed)")
        est = Estimate(float(delta.mean()), None, None, n_targets, min(n_seeds), None, notes[0])
        lo = hi = None
    else:
        rng = np.random.default_rng(rng)
        t = rng.integers(n_targets, size=(n_boot, n_targets))
        draws = [rng.integers(n, size=(n_boot, n_targets, n)) for n in n_seeds]
        reps = sum(wk * m[i, t[:, :, None]].mean(axis=2) for wk, m, i in zip(w, mats, draws)).mean(axis=1)
        low, high = _percentile_ci(reps, level)
        if len(set(n_seeds)) == 1:  # seed k of every matrix as one replicate of the whole contrast
            seed_sd = float(sum(wk * m.mean(axis=1) for wk, m in zip(w, mats)).std(ddof=1))
        est = Estimate(float(delta.mean()), low, high, n_targets, min(n_seeds), seed_sd)
        # per target: the seed spread alone (the targets are fixed here)
        per = sum(wk * m[rng.integers(n, size=(n_boot, n))].mean(axis=1) for wk, m, n in zip(w, mats, n_seeds))
        alpha = (1 - level) / 2
        lo, hi = np.quantile(per, [alpha, 1 - alpha], axis=0)
    return Comparison(
        targets,
        delta,
        lo,
        hi,
        est,
        sign_test(delta),
        wilcoxon_signed_rank(delta),
        wins,
        losses,
        n_targets - wins - losses,
        seeds_a,
        seeds_b,
        notes,
    )


def sign_test(differences) -> float:
    """Two-sided exact sign test of median 0 (zero differences dropped); 1.0 when none is left."""
    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return 1.0
    k = int(min((d > 0).sum(), (d < 0).sum()))
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return float(min(1.0, 2 * tail))


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of ``x``, ties sharing the mean of their positions."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tie = x == value
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks


def wilcoxon_signed_rank(differences) -> float:
    """Two-sided Wilcoxon signed-rank test of a symmetric distribution about 0 (zeros dropped).

    Exact null distribution for up to 25 non-zero differences without tied magnitudes; otherwise
    the normal approximation with the tie correction and a continuity correction.
    """
    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return 1.0
    mag = np.abs(d)
    ranks = _ranks(mag)
    w_plus = float(ranks[d > 0].sum())
    total = n * (n + 1) / 2
    tied = len(np.unique(mag)) < n
    if n <= 25 and not tied:
        # counts[s] = number of sign patterns whose positive ranks sum to s
        counts = np.zeros(int(total) + 1)
        counts[0] = 1
        for r in range(1, n + 1):
            counts[r:] = counts[r:] + counts[:-r].copy()
        cdf = np.cumsum(counts) / 2**n
        w = int(round(min(w_plus, total - w_plus)))
        return float(min(1.0, 2 * cdf[w]))
    mean = total / 2
    _, tie_counts = np.unique(mag, return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - (tie_counts**3 - tie_counts).sum() / 48
    z = (abs(w_plus - mean) - 0.5) / math.sqrt(var)
    return float(min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2))))


Verdict = str  # "reproduced" | "not reproduced" | "inconclusive"


def verdict(estimate: Estimate, paper_effect: float) -> Verdict:
    """The paper's claimed effect (``paper_effect``, a difference, e.g. +0.033 AUC) against ours.

    *reproduced*: our CI lies on the paper's side of 0 (an effect in its direction is established);
    *not reproduced*: our CI excludes the paper's effect and does not establish its direction;
    *inconclusive*: the CI covers both 0 and the paper's effect, or there is no CI (one seed).
    """
    if not estimate.has_ci:
        return "inconclusive"
    sign = 1.0 if paper_effect >= 0 else -1.0
    low, high = sorted((sign * estimate.low, sign * estimate.high))
    if low > 0:
        return "reproduced"
    if high < abs(paper_effect):
        return "not reproduced"
    return "inconclusive"
