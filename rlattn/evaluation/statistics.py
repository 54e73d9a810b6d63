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

N_BOOT = 100_000
BLOCK = 10_000  # draws made at once: bounds the memory of a contrast whatever n_boot is
BOOT_SEED = 0  # every interval in the book is drawn from this seed unless a caller names another
LEVEL = 0.95
# The Monte-Carlo error of a bound: MC_SPREAD standard errors of the percentile, estimated from
# MC_BATCHES disjoint batches of the same draws (so it costs nothing extra). Three standard errors:
# two bootstrap seeds rarely move a bound by more, so a verdict further than that from its line
# does not change with the seed (tests/test_findings.py reruns the ledger with another seed to check it).
MC_BATCHES = 20
MC_SPREAD = 3.0
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
    mc_error: float | None = None  # Monte-Carlo error of the bounds (see MC_SPREAD); None: no interval

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
            "monte_carlo_error": self.mc_error,
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


def bound_mc_error(values: np.ndarray, level: float = LEVEL, batches: int = MC_BATCHES) -> float | None:
    """Monte-Carlo error of a percentile interval's bounds drawn from ``values`` (the bootstrap
    replicates): ``MC_SPREAD`` × the larger bound's standard error, estimated from ``batches``
    disjoint batches (a percentile from ``n / batches`` draws varies ``√batches`` times as much).
    None for fewer than 50 draws a batch: too few to estimate it."""
    values = np.asarray(values, dtype=float)
    usable = len(values) // batches * batches
    if usable < batches * 50:
        return None
    alpha = (1 - level) / 2
    per_batch = np.quantile(values[:usable].reshape(batches, -1), [alpha, 1 - alpha], axis=1)
    se = per_batch.std(axis=1, ddof=1) / np.sqrt(batches)
    return float(MC_SPREAD * se.max())


def bootstrap_means(
    scores: np.ndarray, n_boot: int = N_BOOT, rng: np.random.Generator | int | None = BOOT_SEED
) -> np.ndarray:
    """``n_boot`` two-level bootstrap replicates of the grand mean of a ``(seeds, targets)`` matrix."""
    m = _as_matrix(scores)
    return _contrast_replicates([m], [1.0], n_boot, np.random.default_rng(rng))


def _contrast_replicates(mats: list[np.ndarray], w: list[float], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of ``Σ_k w_k · mean(mats[k])``, drawn in blocks of ``BLOCK``: each
    replicate draws targets (shared by all matrices) and, per matrix, seeds within every target."""
    n_targets = mats[0].shape[1]
    out = np.empty(n_boot)
    for start in range(0, n_boot, BLOCK):
        size = min(BLOCK, n_boot - start)
        t = rng.integers(n_targets, size=(size, n_targets))
        draws = [rng.integers(m.shape[0], size=(size, n_targets, m.shape[0])) for m in mats]
        out[start : start + size] = sum(
            wk * m[i, t[:, :, None]].mean(axis=2) for wk, m, i in zip(w, mats, draws)
        ).mean(axis=1)
    return out


def mean_ci(
    scores, n_boot: int = N_BOOT, level: float = LEVEL, rng: np.random.Generator | int | None = BOOT_SEED
) -> Estimate:
    """Grand mean of a ``(seeds, targets)`` matrix with its two-level bootstrap CI (none for one seed)."""
    m = _as_matrix(scores)
    n_seeds, n_targets = m.shape
    mean = float(m.mean())
    if n_seeds < 2:
        return Estimate(mean, None, None, n_targets, n_seeds, None, ONE_SEED)
    reps = bootstrap_means(m, n_boot, rng)
    low, high = _percentile_ci(reps, level)
    return Estimate(
        mean, low, high, n_targets, n_seeds, float(m.mean(axis=1).std(ddof=1)), mc_error=bound_mc_error(reps, level)
    )


def paired_difference(
    a,
    b,
    targets: list[str] | None = None,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    rng: np.random.Generator | int | None = BOOT_SEED,
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
    rng: np.random.Generator | int | None = BOOT_SEED,
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
    rng: np.random.Generator | int | None = BOOT_SEED,
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
        reps = _contrast_replicates(mats, w, n_boot, rng)
        low, high = _percentile_ci(reps, level)
        if len(set(n_seeds)) == 1:  # seed k of every matrix as one replicate of the whole contrast
            seed_sd = float(sum(wk * m.mean(axis=1) for wk, m in zip(w, mats)).std(ddof=1))
        est = Estimate(
            float(delta.mean()), low, high, n_targets, min(n_seeds), seed_sd, mc_error=bound_mc_error(reps, level)
        )
        # per target: the seed spread alone (the targets are fixed here)
        per_boot = min(n_boot, 20_000)  # a per-target interval only draws seeds: fewer suffice
        per = sum(wk * m[rng.integers(n, size=(per_boot, n))].mean(axis=1) for wk, m, n in zip(w, mats, n_seeds))
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


Verdict = str  # "reproduced" | "not reproduced" | "inconclusive" | "borderline"
BORDERLINE = "borderline"


@dataclass(frozen=True)
class Decision:
    """A verdict with how far it sits from changing: ``margin`` is the distance from the deciding
    bound to its line (0 or the paper's effect), in the metric's units; ``against`` names both."""

    verdict: Verdict
    margin: float | None
    against: str
    mc_error: float | None
    line: str = "0"  # the line the deciding bound is measured to: "0" or "the paper's Δ"

    @property
    def margin_text(self) -> str:
        """``0.015 to the paper's Δ`` / ``0.010 to 0``: how far the verdict is from changing."""
        if self.margin is None:
            return "–"
        return f"{self.margin:.3f} to {self.line}"

    @property
    def note(self) -> str:
        """The margin in words, with the Monte-Carlo error it is read against."""
        if self.margin is None:
            return "no interval"
        mc = "not estimated" if self.mc_error is None else f"{self.mc_error:.4f}"
        return f"{self.against}; Monte-Carlo error of the bounds {mc}"


def decide(estimate: Estimate, paper_effect: float) -> Decision:
    """The paper's claimed effect (``paper_effect``, a difference, e.g. +0.033 AUC) against our
    paired interval. The interval decides; the sign and Wilcoxon tests only describe the targets.

    *reproduced*: the interval lies on the paper's side of 0 (an effect in its direction is
    established); *not reproduced*: it excludes the paper's effect and does not establish its
    direction; *inconclusive*: it covers both 0 and the paper's effect, or there is no interval
    (one seed). *borderline*: the deciding bound lies within the interval's Monte-Carlo error of its
    line, so another bootstrap seed could give another verdict.
    """
    if not estimate.has_ci:
        return Decision("inconclusive", None, "no interval", None)
    sign = 1.0 if paper_effect >= 0 else -1.0
    low, high = sorted((sign * estimate.low, sign * estimate.high))
    effect = abs(paper_effect)
    paper_line = "the paper's Δ"
    if low > 0:
        found, margin, against, line = "reproduced", low, "lower bound above 0", "0"
    elif high < effect:
        found, margin, line = "not reproduced", effect - high, paper_line
        against = "upper bound below the paper's effect"
    elif -low <= high - effect:
        found, margin, against, line = "inconclusive", -low, "lower bound below 0", "0"
    else:
        found, margin, against, line = "inconclusive", high - effect, "upper bound above the paper's effect", paper_line
    if estimate.low < 0 < estimate.high and found == "not reproduced":
        against += ", and the interval covers 0"
    mc = estimate.mc_error or 0.0
    return Decision(BORDERLINE if margin <= mc else found, float(margin), against, estimate.mc_error, line)


def verdict(estimate: Estimate, paper_effect: float) -> Verdict:
    """The verdict of :func:`decide`."""
    return decide(estimate, paper_effect).verdict
