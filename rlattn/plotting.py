"""OPE precision and success plots (legend sorted by score, as in the paper's Fig. 4), overall and
per attribute."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rlattn.evaluation.otb import ATTRIBUTES, IOU_THRESHOLDS, PIXEL_THRESHOLDS


def pyplot():
    """pyplot, headless (Agg) unless a notebook's inline backend is on (its figures then show)."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves(
    ax,
    reports,
    key: str,
    score: str,
    x: np.ndarray,
    title: str,
    xlabel: str,
    ylabel: str,
    overall=lambda r: r.overall,
    legend: bool = True,
) -> None:
    colours = {r.tracker: f"C{i % 10}" for i, r in enumerate(reports)}  # one colour per tracker in every panel
    ranked = sorted(reports, key=lambda r: -overall(r)[score])
    for i, r in enumerate(ranked):
        o = overall(r)
        ax.plot(
            x,
            o[key],
            color=colours[r.tracker],
            lw=2 if i == 0 else 1.4,
            ls="-" if i < 10 else "--",
            label=f"{r.tracker} [{o[score]:.3f}]",
        )
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=7, loc="lower left" if key == "success_curve" else "lower right")


def ope_plots(reports, path: Path, dataset: str) -> Path:
    """Precision (DP@20 in the legend) and success (AUC in the legend) side by side."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    _curves(
        axes[0],
        reports,
        "precision_curve",
        "dp20",
        PIXEL_THRESHOLDS,
        f"Precision plots of OPE on {dataset}",
        "Location error threshold (px)",
        "Precision",
    )
    _curves(
        axes[1],
        reports,
        "success_curve",
        "auc",
        IOU_THRESHOLDS,
        f"Success plots of OPE on {dataset}",
        "Overlap threshold",
        "Success rate",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def attribute_plots(reports, path: Path, dataset: str) -> Path:
    """Success plots for each of the 11 OTB attributes present in the results: one legend for the
    figure (trackers by overall AUC), and in each panel's title the attribute's best tracker."""
    plt = pyplot()
    attrs = [a for a in ATTRIBUTES if all(a in r.per_attribute for r in reports)]
    cols = 3
    rows = max(1, int(np.ceil(len(attrs) / cols)))
    legend_row = 0 if len(attrs) < rows * cols else 1.2  # inches below the panels when none is free
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows + legend_row), squeeze=False)
    for ax, attr in zip(axes.flat, attrs):
        n = reports[0].per_attribute[attr]["sequences"]
        best = max(reports, key=lambda r, a=attr: r.per_attribute[a]["auc"])
        _curves(
            ax,
            reports,
            "success_curve",
            "auc",
            IOU_THRESHOLDS,
            f"{attr} ({n} seq.)\nbest: {best.tracker} {best.per_attribute[attr]['auc']:.3f}",
            "Overlap threshold",
            "Success rate",
            overall=lambda r, a=attr: r.per_attribute[a],
            legend=False,
        )
    spare = list(axes.flat)[len(attrs) :]
    for ax in spare:
        ax.axis("off")
    ranked = sorted(reports, key=lambda r: -r.overall["auc"])
    handles = {h.get_label().split(" [")[0]: h for h in axes.flat[0].get_lines()}
    shown = [r for r in ranked if r.tracker in handles]
    labels = [f"{r.tracker} [{r.overall['auc']:.3f} overall]" for r in shown]
    if spare:  # the legend takes the first empty panel
        spare[0].legend([handles[r.tracker] for r in shown], labels, loc="center", fontsize=9, frameon=False)
    else:
        fig.legend([handles[r.tracker] for r in shown], labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle(f"Success plots of OPE per attribute on {dataset}")
    fig.tight_layout(rect=(0, legend_row / (3.6 * rows + legend_row), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def paired_difference_plot(cmp, path: Path | None, name_a: str, name_b: str, metric: str = "auc", ax=None):
    """Per-target ``a − b`` (sorted), each with its 95% CI over seeds, and the mean difference with
    its CI over targets and seeds as a band. Returns the path written (or the axes when ``ax`` is given)."""
    plt = pyplot()
    order = np.argsort(cmp.delta)
    y = np.arange(len(order))
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(7, 0.28 * len(order) + 1.6))
    colours = np.where(cmp.delta[order] > 0, "C2", np.where(cmp.delta[order] < 0, "C3", "0.5"))
    if cmp.delta_low is not None:
        err = np.vstack([cmp.delta[order] - cmp.delta_low[order], cmp.delta_high[order] - cmp.delta[order]])
        ax.errorbar(cmp.delta[order], y, xerr=err, fmt="none", ecolor="0.55", elinewidth=1, capsize=2)
    ax.scatter(cmp.delta[order], y, c=colours, zorder=3, s=22)
    ax.axvline(0, color="k", lw=0.8)
    m = cmp.mean
    ax.axvline(m.mean, color="C0", lw=1.5, label=f"mean {m.mean:+.3f}")
    if m.has_ci:
        ax.axvspan(m.low, m.high, color="C0", alpha=0.15, label=f"95% CI [{m.low:+.3f}, {m.high:+.3f}]")
    ax.set_yticks(y)
    ax.set_yticklabels([cmp.targets[i] for i in order], fontsize=8)
    seeds = f"{cmp.seeds_a} vs {cmp.seeds_b} seeds"
    ax.set_xlabel(f"Δ {metric.upper()} = {name_a} − {name_b}")
    ax.set_title(f"{name_a} vs {name_b}: per-target difference ({seeds}; bars: 95% CI over seeds)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if not own:
        return ax
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def gradient_balance_plot(histories: dict, clip: float, title: str = ""):
    """Per SGD step and λ: ‖∇CE‖ and ‖∇λR‖ before clipping (left, with the clipping norm), and the
    cross-entropy step's norm after clipping (right); first-frame steps shaded. Returns the figure."""
    from rlattn.diagnostics import balance_arrays

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharex=True)
    for i, (lam, history) in enumerate(sorted(histories.items())):
        a = balance_arrays(history)
        steps = np.arange(len(a["grad_ce"]))
        colour = f"C{i % 10}"
        axes[0].plot(steps, a["grad_ce"], color=colour, lw=1, label=f"λ = {lam:g}: ‖∇CE‖")
        if lam > 0:
            axes[0].plot(steps, a["grad_reg"], color=colour, lw=1, ls="--", label=f"λ = {lam:g}: ‖∇λΣR‖")
        axes[1].plot(steps, a["grad_ce"] * a["ce_kept"], color=colour, lw=1, label=f"λ = {lam:g}")
        n_init = int(np.sum(a["stage"] == "init"))
    for ax in axes:
        ax.set_yscale("log")
        ax.axvspan(0, n_init, color="0.9", zorder=0)
        ax.set_xlabel("SGD step (shaded: first frame)")
        ax.grid(alpha=0.3)
    axes[0].axhline(clip, color="k", lw=0.8, ls=":", label=f"clipping norm {clip:g}")
    axes[0].set_ylabel("gradient norm over fc4–fc6, before clipping")
    axes[1].set_ylabel("‖∇CE‖ after clipping")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
