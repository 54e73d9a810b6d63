"""The claims ledger: one row per claim of the paper, the paper's number, ours with its interval
and how it was made, and a verdict computed from them (never typed).

Verdicts (see :func:`rlattn.evaluation.statistics.verdict`): *reproduced*, *not reproduced*,
*inconclusive*; a claim we have not measured yet says *not measured* and why.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rlattn.evaluation.statistics import Comparison, verdict
from rlattn.tables import Table

NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Claim:
    source: str  # "Table 1"
    claim: str
    paper: str
    ours: str
    how: str  # targets × seeds, mode, backbone, machine, commit
    verdict: str
    where: str  # the chapter that computes it


def effect_claim(
    source: str,
    claim: str,
    paper_effect: float,
    cmp: Comparison,
    how: str,
    where: str,
    metric: str = "AUC",
    paper_text: str | None = None,
) -> Claim:
    """A claimed difference (``paper_effect``, e.g. +0.033 AUC) against our paired comparison."""
    m = cmp.mean
    ours = f"Δ {metric} {m.mean:+.3f}"
    ours += f", 95% CI [{m.low:+.3f}, {m.high:+.3f}]" if m.has_ci else " (1 seed: no CI)"
    ours += f"; better on {cmp.wins} of {len(cmp.targets)} targets, Wilcoxon p = {cmp.wilcoxon_p:.2g}"
    paper = paper_text or f"Δ {metric} {paper_effect:+.3f}"
    return Claim(source, claim, paper, ours, how, verdict(m, paper_effect), where)


def value_claim(
    source: str,
    claim: str,
    paper_value: float,
    ours: float,
    how: str,
    where: str,
    tol: float = 5e-4,
    digits: int = 3,
    label: str = "AUC",
) -> Claim:
    """A published number recomputed from published data: deterministic, so equal within ``tol``
    (half a unit of the paper's last digit by default) or not."""
    same = abs(ours - paper_value) <= tol
    return Claim(
        source,
        claim,
        f"{label} {paper_value:.{digits}f}",
        f"{label} {ours:.{digits}f}",
        how,
        "reproduced" if same else "not reproduced",
        where,
    )


def pending_claim(source: str, claim: str, paper: str, why: str, where: str) -> Claim:
    return Claim(source, claim, paper, "–", why, NOT_MEASURED, where)


def describe_results(folder: Path, seeds: Iterable[int] | None = None) -> str:
    """How a configuration's committed results were made, from their own ``.json`` files: mode,
    backbone, seeds, machine(s) and the code version recorded. ``seeds``: describe only those (the
    seeds a statistic used, not a seed folder still being filled)."""
    folder = Path(folder)
    files = [p for p in folder.rglob("*.json") if p.name != "rlattn-config.json"]
    if seeds is not None:
        wanted = {f"seed{s}" for s in seeds}
        files = [p for p in files if p.parent == folder or p.parent.name in wanted]
    if not files:
        return f"no results in {folder.name}"
    modes, backbones, machines, commits, seeds, dates = Counter(), Counter(), Counter(), Counter(), set(), set()
    for p in files:
        try:
            info = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(info, dict):
            continue
        cfg = info.get("config") or {}
        modes[cfg.get("mode", "?")] += 1
        backbones[cfg.get("backbone", "?")] += 1
        seeds.add(cfg.get("seed"))
        run = info.get("run") or {}
        machines[run.get("machine", "machine not recorded")] += 1
        commits[run.get("commit") or "commit in data/results/README.md"] += 1
        dates.add(str(run.get("finished", ""))[:10] or "before 2026-11-25")

    def top(c: Counter, n: int = 2) -> str:  # machine descriptions hold commas themselves
        shown = " / ".join(k for k, _ in c.most_common(n))
        return shown + (f" (+{len(c) - n} more)" if len(c) > n else "")

    made = sorted(dates)
    when = made[0] if len(made) == 1 else f"{made[0]} to {made[-1]}"
    return (
        f"{top(modes)} mode, {top(backbones)}, seeds {sorted(s for s in seeds if s is not None)}; "
        f"{top(machines, 3)}; made {when}; {top(commits, 3)}"
    )


def ledger_table(claims: list[Claim]) -> Table:
    t = Table(["paper", "claim", "paper's number", "ours", "how", "verdict", "chapter"], numeric_right=False)
    for c in claims:
        t.add(c.source, c.claim, c.paper, c.ours, c.how, c.verdict, c.where)
    return t
