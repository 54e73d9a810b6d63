"""Gradient-balance summaries on planted records, and a real run that records them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlattn.config import TrackerConfig
from rlattn.diagnostics import balance_arrays, record_gradient_balance, summarise_balance


def _record(stage: str, ce: float, reg: float, clip: float = 10.0) -> dict:
    total = float(np.hypot(ce, reg))  # orthogonal parts
    return {
        "stage": stage,
        "frame": 0,
        "grad_ce": ce,
        "grad_reg": reg,
        "grad_cosine": 0.0,
        "grad_total": total,
        "clipped": total > clip,
        "grad_after_clip": min(total, clip),
    }


def test_a_regulariser_that_dwarfs_the_cross_entropy_shrinks_its_clipped_step():
    history = [_record("init", 150.0, 1.0)] * 3 + [_record("long", 3.0, 400.0)] * 5 + [_record("long", 3.0, 4.0)]
    online = summarise_balance(history, "long")
    assert online["steps"] == 6 and online["grad_ce"] == 3.0
    assert online["ratio"] == pytest.approx(400 / 3) and online["clipped"] == pytest.approx(5 / 6)
    assert online["ce_kept"] == pytest.approx(10 / np.hypot(3, 400))
    assert online["ce_after_clip"] == pytest.approx(3 * 10 / np.hypot(3, 400))
    a = balance_arrays(history)
    assert a["ce_kept"][-1] == 1.0  # ‖(3, 4)‖ = 5 < 10: not clipped, the whole step kept
    assert summarise_balance(history, "init")["ce_kept"] == pytest.approx(10 / np.hypot(150, 1))
    assert summarise_balance([], "long") == {"steps": 0}


def test_recording_on_the_demo_sequence_gives_zero_regulariser_gradient_at_lambda_zero():
    from rlattn.datasets import make_synthetic_sequence

    seq = make_synthetic_sequence(n_frames=4, name="demo")
    cfg = TrackerConfig.quick(mode="fast", iters_init=3, iters_update=2)
    histories = record_gradient_balance(seq, [0.0, 5.0], cfg)
    assert set(histories) == {0.0, 5.0}
    zero, five = summarise_balance(histories[0.0]), summarise_balance(histories[5.0])
    assert zero["steps"] == five["steps"] >= 3
    assert zero["grad_reg"] == 0.0 and five["grad_reg"] > 0.0


def test_mean_reduction_divides_the_regulariser_by_the_batch():
    """``reg_reduction="mean"``: the first step's regulariser gradient is the summed one / 64."""
    from rlattn.datasets import make_synthetic_sequence
    from rlattn.experiments import TrackerSpec

    seq = make_synthetic_sequence(n_frames=2, name="demo")
    cfg = TrackerConfig.quick(mode="fast", lam=5.0, iters_init=1, iters_update=1)
    first = {}
    for reduction in ("sum", "mean"):
        history = record_gradient_balance(seq, [5.0], cfg.replace(reg_reduction=reduction))[5.0]
        first[reduction] = history[0]
    batch = cfg.batch_pos + cfg.batch_neg
    assert first["mean"]["grad_reg"] == pytest.approx(first["sum"]["grad_reg"] / batch, rel=1e-4)
    assert first["mean"]["grad_ce"] == pytest.approx(first["sum"]["grad_ce"], rel=1e-6)
    with pytest.raises(Exception, match="reg_reduction"):
        TrackerConfig(reg_reduction="max")
    mean = cfg.replace(reg_reduction="mean")
    assert TrackerSpec("dat", mean).config_hash() != TrackerSpec("dat", cfg).config_hash()
    assert TrackerSpec("dat", cfg.replace(reg_reduction="sum")).config_hash() == TrackerSpec("dat", cfg).config_hash()
    assert TrackerSpec("mdnet", mean).config_hash() == TrackerSpec("mdnet", cfg).config_hash()


def test_scoring_the_true_box_leaves_the_run_alone_and_the_oracle_learns_from_the_truth():
    """``update_diagnosis`` without the oracle gives a plain run's boxes (scoring the true box
    draws no random numbers); with it the updates' samples are drawn around the true box."""
    from rlattn import DATTracker
    from rlattn.datasets import make_synthetic_sequence
    from rlattn.diagnostics import update_diagnosis
    from rlattn.tracking import track_sequence

    seq = make_synthetic_sequence(n_frames=12, name="demo")
    cfg = TrackerConfig.quick(mode="fast", iters_init=3, iters_update=2, seed=2, long_interval=2)
    plain, _ = track_sequence(DATTracker(cfg), seq, progress=False)
    seen = update_diagnosis(seq, cfg)
    assert np.array_equal(np.array(seen["boxes"]), plain)
    scores = np.array(seen["truth_score"])
    assert np.isnan(scores[0]) and np.isfinite(scores[1:]).all()
    assert len(seen["iou"]) == len(seq) and seen["iou"][0] == pytest.approx(1.0)
    oracle = update_diagnosis(seq, cfg, oracle=True)
    assert not np.array_equal(np.array(oracle["boxes"]), plain)  # other samples, other classifier
    short = update_diagnosis(seq, cfg, frames=5)
    assert np.array_equal(np.array(short["boxes"]), plain[:5])


def test_update_diagnosis_command_refuses_bad_input_in_one_line(tmp_path, capsys):
    from rlattn.diagnostics import main

    out = tmp_path / "d.json"
    assert main(["updates", "--targets", "Car4", "--seeds", "x", "--json", str(out)]) == 2
    assert "--seeds expects" in capsys.readouterr().err
    assert main(["updates", "--targets", "Car4", "--frames", "1", "--json", str(out)]) == 2
    assert "--frames must be at least 2" in capsys.readouterr().err
    assert main(["updates", "--targets", "Car4", "--data-root", str(tmp_path / "none"), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and not out.exists()
    out.write_text(json.dumps({"config": {"mode": "fast", "lam": 0.0, "frames": 80, "backbone": "efficientnet_lite0"},
                               "runs": {}}))
    from rlattn.datasets import make_synthetic_sequence, write_sequence

    write_sequence(make_synthetic_sequence(3, seed=0), tmp_path / "data" / "otb" / "Car4")
    argv = ["updates", "--targets", "Car4", "--frames", "3", "--data-root", str(tmp_path / "data"), "--json", str(out)]
    assert main(argv) == 2  # 3 frames into a file of 80-frame runs: refused, nothing run
    assert "holds runs of another setting" in capsys.readouterr().err


def test_update_runs_pair_into_rows_with_the_score_gap_before_the_loss():
    from rlattn.diagnostics import summarise_update_runs

    def run(target, seed, variant, lost, truth, chosen):
        return {"target": target, "seed": seed, "variant": variant, "lost_frame": lost, "mean_iou": 0.5,
                "truth_score": truth, "chosen_score": chosen, "boxes": [[0, 0, 1, 1]]}

    nan = float("nan")
    truth = [nan, 1.0, 1.0, -2.0, -3.0, -4.0, -5.0, -6.0]
    chosen = [nan, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    runs = {
        "a/0/plain": run("a", 0, "plain", 6, truth, chosen),
        "a/0/oracle": run("a", 0, "oracle", None, truth, chosen),
        "b/1/plain": run("b", 1, "plain", None, truth, chosen),
        "b/1/oracle": run("b", 1, "oracle", None, truth, chosen),
        "c/0/plain": run("c", 0, "plain", 3, truth, chosen),  # its oracle run is not in yet
    }
    rows = summarise_update_runs(runs)
    assert [(r["target"], r["seed"]) for r in rows] == [("a", 0), ("b", 1)]
    a, b = rows
    assert a["score_gap"] == pytest.approx(np.mean([-1, -3, -4, -5, -6]))  # frames 2..6
    assert a["plain_lost"] == 6 and a["oracle_lost"] is None and b["score_gap"] is None
    assert summarise_update_runs(runs, window=2)[0]["score_gap"] == pytest.approx(-5.5)  # frames 5, 6


def test_relative_weighting_holds_the_regulariser_at_lambda_times_the_cross_entropy():
    """``reg_weighting="relative"``: every step's applied regulariser gradient has λ times the
    cross-entropy's norm (λ is a ratio), whatever R's own scale; a configuration of its own."""
    from rlattn.datasets import make_synthetic_sequence
    from rlattn.experiments import TrackerSpec

    seq = make_synthetic_sequence(n_frames=3, name="demo")
    cfg = TrackerConfig.quick(mode="fast", iters_init=2, iters_update=1, long_interval=2, reg_weighting="relative")
    history = record_gradient_balance(seq, [0.5], cfg)[0.5]
    a = balance_arrays(history)
    assert len(a["grad_ce"]) >= 3
    assert np.allclose(a["grad_reg"], 0.5 * a["grad_ce"], rtol=1e-4)
    with pytest.raises(Exception, match="reg_weighting"):
        TrackerConfig(reg_weighting="adaptive")
    fixed = cfg.replace(reg_weighting="fixed")
    assert TrackerSpec("dat", cfg).config_hash() != TrackerSpec("dat", fixed).config_hash()
    assert TrackerSpec("dat", fixed).config_hash() == TrackerSpec("dat", TrackerConfig.quick(
        mode="fast", iters_init=2, iters_update=1, long_interval=2)).config_hash()
    assert TrackerSpec("mdnet", cfg).config_hash() == TrackerSpec("mdnet", fixed).config_hash()
