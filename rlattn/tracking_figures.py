"""The paper's Fig. 3 from recorded tracking runs (:func:`rlattn.tracking.track_with_diagnostics`):
frames with boxes and confidence, attention maps on the tracked patch, and a frame scrubber that
works in a static HTML page (a JavaScript animation of pre-drawn frames, no kernel needed).

``runs`` maps a label (e.g. ``"λ = 5"``) to ``(boxes, records)`` of one tracker on ``seq``.
"""

from __future__ import annotations

import numpy as np

from rlattn.boxes import iou, to_zero_based
from rlattn.plotting import pyplot
from rlattn.visualize import confidence_map, draw_boxes


def top_scores(records, k: int = 5) -> np.ndarray:
    """Per frame, the mean target score of the ``k`` best candidates (NaN on the first frame)."""
    return np.array([np.sort(r.scores)[-k:].mean() if r.scores is not None else np.nan for r in records])


def draw_frame(ax, seq, boxes, record, i: int, title: str) -> None:
    """Frame ``i`` with the predicted (red) and true (green) boxes and the confidence map laid on it."""
    image = seq.image(i)
    ax.imshow(draw_boxes(image, boxes[i], seq.boxes[i]))
    if record.candidates is not None:
        conf = confidence_map(record.candidates, record.scores, image.shape[:2])
        ax.imshow(conf, cmap="viridis", alpha=0.45, vmin=0, vmax=1)
    ax.set_title(f"{title}\nIoU {iou(boxes[i], seq.boxes[i])[0]:.2f}", fontsize=10)
    ax.axis("off")


def draw_attention(ax, record, vmax: float | None = None):
    """The tracked patch in grey with its attention map ``A_p`` over it, divided by ``vmax`` (default:
    the map's own 99th percentile, so that its shape shows whatever its size), opaque where the map
    is large and transparent where it is small; returns the map's image (for a colourbar)."""
    amap = np.asarray(record.attention, dtype=float)
    top = vmax or float(np.quantile(amap, 0.99)) or float(amap.max()) or 1.0
    shown_map = np.clip(amap / top, 0.0, 1.0)
    ax.imshow(record.patch.mean(axis=2), cmap="gray", vmin=0, vmax=255)
    shown = ax.imshow(shown_map, cmap="inferno", alpha=np.clip(shown_map * 1.5, 0.0, 1.0), vmin=0, vmax=1)
    ax.axis("off")
    return shown


def frames_figure(seq, runs: dict, chosen: list[int]):
    """Rows: the runs; columns: the chosen frames, each with boxes and the confidence map."""
    plt = pyplot()
    fig, axes = plt.subplots(len(runs), len(chosen), figsize=(3.6 * len(chosen), 3.3 * len(runs)), squeeze=False)
    for row, (label, (boxes, records)) in enumerate(runs.items()):
        for col, i in enumerate(chosen):
            draw_frame(axes[row, col], seq, boxes, records[i], i, f"{label}, frame {i + 1}")
    fig.tight_layout()
    return fig


def attention_figure(runs: dict, chosen: list[int]):
    """Rows: the runs; columns: the chosen frames' attention maps on their tracked patches, each on
    its own scale (its 99th percentile; the title gives the map's maximum, i.e. its size)."""
    plt = pyplot()
    fig, axes = plt.subplots(len(runs), len(chosen), figsize=(2.9 * len(chosen) + 0.8, 3.1 * len(runs)),
                             squeeze=False)
    for row, (label, (_, records)) in enumerate(runs.items()):
        for col, i in enumerate(chosen):
            shown = draw_attention(axes[row, col], records[i])
            peak = float(np.max(records[i].attention))
            axes[row, col].set_title(f"{label}, frame {i + 1}\nmax {peak:.1e}", fontsize=10)
    fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, label="$A_p$ / its 99th percentile")
    return fig


def scrubber_html(seq, runs: dict, every: int = 4, dpi: int = 80) -> str:
    """A frame scrubber for the static book: for every ``every``-th frame, each run's frame (boxes and
    confidence) beside its attention map, as a self-contained JavaScript animation."""
    from matplotlib import animation

    plt = pyplot()
    frames = list(range(0, len(seq), max(1, every)))
    if frames[-1] != len(seq) - 1:
        frames.append(len(seq) - 1)
    fig, axes = plt.subplots(1, 2 * len(runs), figsize=(2.6 * 2 * len(runs), 2.7),
                             gridspec_kw={"width_ratios": [1.4, 1] * len(runs)})
    vmax = {label: float(np.nanmax([r.attention.max() for r in records])) for label, (_, records) in runs.items()}

    def draw(i: int):
        for k, (label, (boxes, records)) in enumerate(runs.items()):
            for a in axes[2 * k: 2 * k + 2]:
                a.clear()
            draw_frame(axes[2 * k], seq, boxes, records[i], i, f"{label}, frame {i + 1}")
            draw_attention(axes[2 * k + 1], records[i], vmax[label] or None)
            axes[2 * k + 1].set_title("attention $A_p$", fontsize=10)
        return []

    fig.tight_layout()
    anim = animation.FuncAnimation(fig, draw, frames=frames, blit=False)
    # JPEG frames: a fifth of PNG's size for these photographs, so the chapter stays a few MB
    with plt.rc_context({"savefig.dpi": dpi, "animation.embed_limit": 40.0, "animation.frame_format": "jpeg"}):
        html = anim.to_jshtml(fps=4, default_mode="once")
    plt.close(fig)
    return html


BOX_COLOURS = ("lime", "red", "deepskyblue", "orange")  # ground truth first, then each run's boxes


def loss_figure(rows: list[tuple[str, object, dict[str, np.ndarray], list[int]]]):
    """One row per lost target: ``(title, seq, {label: boxes}, frames)``; each panel is one frame
    with every run's box (the first entry, by convention the ground truth, in green)."""
    from matplotlib.patches import Rectangle  # matplotlib loads only when a figure is drawn

    plt = pyplot()
    cols = max(len(r[3]) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(3.6 * cols, 3.0 * len(rows)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, (title, seq, runs, frames) in enumerate(rows):
        for col, i in enumerate(frames):
            ax = axes[row, col]
            ax.imshow(seq.image(i))
            for (label, boxes), colour in zip(runs.items(), BOX_COLOURS):
                if i < len(boxes) and np.isfinite(boxes[i]).all():
                    x, y, w, h = to_zero_based(boxes[i])[0]
                    ax.add_patch(Rectangle((x, y), w, h, fill=False, lw=2, ec=colour, label=label))
            ax.set_title(f"{title}, frame {i + 1}", fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig
