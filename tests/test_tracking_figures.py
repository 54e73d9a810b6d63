"""Fig. 3's figures and the static scrubber, from recorded frames (no tracking needed)."""

from __future__ import annotations

import numpy as np

from rlattn.datasets import make_synthetic_sequence
from rlattn.tracking import FrameDiagnostics
from rlattn.tracking_figures import attention_figure, frames_figure, scrubber_html, top_scores


def _runs(seq, n):
    rng = np.random.default_rng(0)
    runs = {}
    for label in ("λ = 0", "λ = 5"):
        records = []
        for i in range(n):
            cands = None if i == 0 else seq.boxes[i] + rng.normal(0, 3, (16, 4))
            scores = None if i == 0 else rng.normal(0, 2, 16).astype(np.float32)
            patch = rng.integers(0, 255, (107, 107, 3), dtype=np.uint8)
            records.append(FrameDiagnostics(i, cands, scores, patch, rng.random((107, 107)).astype(np.float32)))
        runs[label] = (seq.boxes[:n].copy(), records)
    return runs


def test_figures_and_a_scrubber_that_needs_no_kernel():
    seq = make_synthetic_sequence(name="demo").truncated(9)
    runs = _runs(seq, 9)
    assert np.isnan(top_scores(runs["λ = 0"][1])[0])
    assert len(frames_figure(seq, runs, [1, 8]).axes) == 4
    assert len(attention_figure(runs, [1, 8]).axes) == 4 + 1  # one colourbar: every map on its own 99th percentile
    html = scrubber_html(seq, runs, every=4)
    assert "<script" in html and html.count("data:image/jpeg;base64") >= 3  # frames 1, 5, 9 embedded
