"""The claims ledger: one row per claim of the paper, the paper's number, ours with its interval
and how it was made, and a verdict computed from them (never typed).

Verdicts (see :func:`rlattn.evaluation.statistics.decide`): *reproduced*, *not reproduced*,
*inconclusive*, *borderline* (the deciding bound within the bootstrap's Monte-Carlo error of its
line); a claim we have not measured yet says *not measured* and why. The paired interval decides;
the Wilcoxon signed-rank test, which counts targets and ignores the seed spread within each, is shown
only where it seems to disagree, with that said.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rlattn.evaluation.statistics import Comparison, decide
from rlattn.tables import Table

NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Claim:
    source: str  # "Table 1"
    claim: str
    paper: str
    ours: str
    how: str  # targets × seeds, mode, backbone, machines, dates
    verdict: str
    where: str  # the chapter that computes it
    margin: str = "–"  # how far the deciding bound lies from the verdict's line
    note: str = ""  # the margin in words, and where a test seems to disagree with the interval, why


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
    ours += f" [{m.low:+.3f}, {m.high:+.3f}]" if m.has_ci else " (1 seed: no CI)"
    ours += f"; higher on {cmp.wins} of {len(cmp.targets)}"
    d = decide(m, paper_effect)
    note = d.note
    if m.has_ci and m.low <= 0 <= m.high and cmp.wilcoxon_p < 0.05 and len(cmp.targets) > 1:
        note += (
            f". Wilcoxon p = {cmp.wilcoxon_p:.2g}: it counts targets and ignores each one's seed spread; "
            "the interval, which carries both, decides"
        )
    paper = paper_text or f"Δ {metric} {paper_effect:+.3f}"
    return Claim(source, claim, paper, ours, how, d.verdict, where, d.margin_text, note)


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


def _result_records(folder: Path, seeds: Iterable[int] | None, top_level: bool) -> tuple[int, list[dict]]:
    """How many result ``.json`` files a folder holds (of ``seeds`` only, and with ``top_level`` also
    the files lying in the folder itself, the one-seed layout) and those that read as JSON objects."""
    files = [p for p in folder.rglob("*.json") if p.name != "rlattn-config.json"]
    if seeds is not None:
        wanted = {f"seed{s}" for s in seeds}
        files = [p for p in files if (top_level and p.parent == folder) or p.parent.name in wanted]
    records = []
    for p in files:
        try:
            info = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(info, dict):
            records.append(info)
    return len(files), records


def provenance(folder: Path, seeds: Iterable[int] | None = None) -> str:
    """What a reader of the ledger needs of :func:`describe_results`: mode, backbone and when, on how
    many machines (each result's ``.json`` holds its machine and commit)."""
    folder = Path(folder)
    n_files, records = _result_records(folder, seeds, top_level=False)
    if not n_files:
        return f"no results in {folder.name}"
    modes, backbones, machines, dates = set(), set(), set(), set()
    for info in records:
        cfg, run = info.get("config") or {}, info.get("run") or {}
        modes.add(str(cfg.get("mode", "?")))
        backbones.add(str(cfg.get("backbone", "?")))
        machines.add(str(run.get("machine", "?")))
        if run.get("finished"):
            dates.add(str(run["finished"])[:10])
    made = sorted(dates)
    when = "" if not made else (f"made {made[0]} " if len(made) == 1 else f"made {made[0]} to {made[-1]} ")
    cpus = f"{len(machines)} machine" + ("s" if len(machines) != 1 else "")
    return f"{' / '.join(sorted(modes))} mode, {' / '.join(sorted(backbones))}; {when}on {cpus}"


def describe_results(folder: Path, seeds: Iterable[int] | None = None) -> str:
    """How a configuration's committed results were made, from their own ``.json`` files: mode,
    backbone, seeds, machine(s) and the code version recorded. ``seeds``: describe only those (the
    seeds a statistic used, not a seed folder still being filled)."""
    folder = Path(folder)
    n_files, records = _result_records(folder, seeds, top_level=True)
    if not n_files:
        return f"no results in {folder.name}"
    modes, backbones, machines, commits, seeds, dates = Counter(), Counter(), Counter(), Counter(), set(), set()
    for info in records:
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
    """The ledger's rows; what each rests on is :func:`ledger_notes`' (a table that says both is too
    wide to read)."""
    t = Table(["", "paper", "claim", "paper's", "ours (95% CI)", "verdict", "margin", "chapter"], numeric_right=False)
    for i, c in enumerate(claims, 1):
        t.add(str(i), c.source, c.claim, c.paper, c.ours, c.verdict, c.margin, c.where)
    return t


def ledger_notes(claims: list[Claim]) -> str:
    """What each ledger row rests on, numbered as the table's rows, in Markdown."""
    lines = []
    for i, c in enumerate(claims, 1):
        extra = f" {c.note[0].upper()}{c.note[1:]}." if c.note else ""
        lines.append(f"{i}. {c.how[:1].upper()}{c.how[1:]}.{extra}")
    return "\n".join(lines)
