"""OPE precision and success plots (legend sorted by score, as in the paper's Fig. 4), overall and
per attribute."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rlattn.evaluation.otb import ATTRIBUTES, IOU_THRESHOLDS, PIXEL_THRESHOLDS


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves(
    ax, reports, key: str, score: str, x: np.ndarray, title: str, xlabel: str, ylabel: str, overall=lambda r: r.overall
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
    ax.legend(fontsize=7, loc="lower left" if key == "success_curve" else "lower right")


def ope_plots(reports, path: Path, dataset: str) -> Path:
    """Precision (DP@20 in the legend) and success (AUC in the legend) side by side."""
    plt = _plt()
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
    """Success plots for each of the 11 OTB attributes present in the results."""
    plt = _plt()
    attrs = [a for a in ATTRIBUTES if all(a in r.per_attribute for r in reports)]
    cols = 4
    rows = max(1, int(np.ceil(len(attrs) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False)
    for ax, attr in zip(axes.flat, attrs):
        n = reports[0].per_attribute[attr]["sequences"]
        _curves(
            ax,
            reports,
            "success_curve",
            "auc",
            IOU_THRESHOLDS,
            f"{attr} ({n} sequences)",
            "Overlap threshold",
            "Success rate",
            overall=lambda r, a=attr: r.per_attribute[a],
        )
    for ax in list(axes.flat)[len(attrs) :]:
        ax.axis("off")
    fig.suptitle(f"Success plots of OPE per attribute on {dataset}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
