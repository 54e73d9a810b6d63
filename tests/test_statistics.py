"""Seed statistics on planted effects, the seed layout of results folders, and `rlattn compare`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rlattn.cli import main
from rlattn.evaluation.statistics import (
    contrast,
    difference_of_differences,
    mean_ci,
    paired_difference,
    sign_test,
    verdict,
    wilcoxon_signed_rank,
)


def _scores(rng, seeds: int, targets: int, target_sd=0.15, seed_sd=0.08, shift=0.0, base=None):
    """Synthetic AUCs: a per-target difficulty shared by every configuration plus seed noise."""
    base = rng.normal(0.6, target_sd, targets) if base is None else base
    return np.clip(base[None, :] + shift + rng.normal(0, seed_sd, (seeds, targets)), 0, 1), base


def test_planted_improvement_is_detected_with_a_ci_excluding_zero():
    rng = np.random.default_rng(1)
    b, base = _scores(rng, 5, 23)
    a, _ = _scores(rng, 5, 23, shift=0.05, base=base)
    cmp = paired_difference(a, b)
    assert cmp.mean.has_ci and cmp.mean.low > 0
    assert abs(cmp.mean.mean - 0.05) < 0.03
    assert cmp.wilcoxon_p < 0.01 and cmp.wins > cmp.losses
    assert verdict(cmp.mean, paper_effect=0.033) == "reproduced"


def test_identical_configurations_give_a_ci_covering_zero():
    covered = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        b, base = _scores(rng, 5, 23)
        a, _ = _scores(rng, 5, 23, base=base)
        cmp = paired_difference(a, b, n_boot=2000, rng=seed)
        covered += cmp.mean.low <= 0 <= cmp.mean.high
    # a 95% interval: most of 40 null experiments must cover 0 (a binomial 40 x 0.95 gives >= 34
    # with probability > 0.95; a bootstrap that ignored the seed level would cover far less often)
    assert covered >= 34


def test_ci_shrinks_with_more_seeds_and_targets_and_covers_the_truth():
    rng = np.random.default_rng(3)
    small, _ = _scores(rng, 2, 8)
    large, _ = _scores(rng, 10, 40)
    e_small, e_large = mean_ci(small), mean_ci(large)
    assert e_large.high - e_large.low < e_small.high - e_small.low
    assert e_large.low < 0.6 < e_large.high
    assert e_large.seed_sd is not None and e_large.n_seeds == 10 and e_large.n_targets == 40


def test_one_seed_gives_no_fake_ci():
    rng = np.random.default_rng(4)
    one, base = _scores(rng, 1, 23)
    two, _ = _scores(rng, 3, 23, base=base)
    est = mean_ci(one)
    assert not est.has_ci and est.low is None and "cannot be estimated" in est.note
    assert "no CI" in est.format()
    cmp = paired_difference(one, two)
    assert not cmp.mean.has_ci and cmp.delta_low is None
    assert any("one seed" in n for n in cmp.notes)
    assert verdict(cmp.mean, 0.033) == "inconclusive"


def test_difference_of_differences_finds_a_planted_interaction():
    """An effect of +0.06 in setting 1 and none in setting 2 (e.g. λ helps in exact mode only):
    the difference of the two paired differences is detected; the same effect in both is not."""
    rng = np.random.default_rng(7)
    _, base = _scores(rng, 1, 12)
    b1, _ = _scores(rng, 3, 12, base=base)
    a1, _ = _scores(rng, 3, 12, base=base, shift=0.06)
    b2, _ = _scores(rng, 4, 12, base=base)
    a2, _ = _scores(rng, 4, 12, base=base)
    dd = difference_of_differences(a1, b1, a2, b2)
    assert dd.mean.has_ci and dd.mean.low > 0 and abs(dd.mean.mean - 0.06) < 0.04
    assert (dd.seeds_a, dd.seeds_b) == (3, 3)  # the fewest seeds of the + and of the − terms
    per_target = (a1.mean(0) - b1.mean(0)) - (a2.mean(0) - b2.mean(0))
    assert np.allclose(dd.delta, per_target)
    covered = 0
    for seed in range(30):  # the same effect in both settings: no interaction
        rng = np.random.default_rng(200 + seed)
        _, base = _scores(rng, 1, 12)
        mats = [_scores(rng, 3, 12, base=base, shift=s)[0] for s in (0.05, 0.0, 0.05, 0.0)]
        covered += (lambda e: e.low <= 0 <= e.high)(difference_of_differences(*mats, n_boot=2000, rng=seed).mean)
    assert covered >= 25


def test_a_two_term_contrast_is_the_paired_difference():
    rng = np.random.default_rng(8)
    a, base = _scores(rng, 4, 9)
    b, _ = _scores(rng, 3, 9, base=base)
    p, c = paired_difference(a, b, n_boot=500), contrast([a, b], [1, -1], n_boot=500)
    assert p.mean == c.mean and np.array_equal(p.delta_low, c.delta_low)
    with pytest.raises(ValueError, match="one weight each"):
        contrast([a, b], [1.0])
    with pytest.raises(ValueError, match="same targets"):
        difference_of_differences(a, b, a[:, :5], b[:, :5])
    one = difference_of_differences(a[:1], b, a, b)
    assert not one.mean.has_ci and "1 of 4 have one seed" in one.notes[0]


def test_verdicts():
    from rlattn.evaluation.statistics import Estimate

    def est(lo, hi):
        return Estimate((lo + hi) / 2, lo, hi, 23, 5)

    assert verdict(est(0.01, 0.06), 0.033) == "reproduced"
    assert verdict(est(-0.06, 0.01), 0.033) == "not reproduced"
    assert verdict(est(-0.02, 0.05), 0.033) == "inconclusive"
    assert verdict(est(-0.06, -0.01), -0.02) == "reproduced"  # a claimed decrease


def test_sign_and_wilcoxon_against_known_values():
    # 9 of 10 positive: two-sided sign test p = 2 * 11 / 1024
    assert math.isclose(sign_test([1] * 9 + [-1]), 22 / 1024)
    assert sign_test([0, 0]) == 1.0
    # ranks 1..6 all positive: W- = 0, exact two-sided p = 2 / 64
    assert math.isclose(wilcoxon_signed_rank([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), 2 / 64)
    # symmetric about 0: no evidence
    assert wilcoxon_signed_rank([-0.3, -0.1, 0.1, 0.3, 0.2, -0.2]) > 0.9
    # ties fall back to the normal approximation and stay within [0, 1]
    p = wilcoxon_signed_rank([0.1] * 30 + [-0.1] * 5)
    assert 0 < p < 1e-3


def test_mismatched_or_nan_scores_are_refused():
    with pytest.raises(ValueError, match="same targets"):
        paired_difference(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        mean_ci([[0.5, np.nan]])


def _write_seed_results(folder, seeds, truth, offsets):
    """Result files of a 'tracker' whose box is the truth moved by ``offsets[seed][target]`` px."""
    from rlattn.results import write_run

    for s in seeds:
        for t, (name, gt) in enumerate(truth.items()):
            write_run(folder / f"seed{s}", name, gt + [offsets[s][t], 0, 0, 0], {"fps": 1.0})


@pytest.fixture
def annotated(tmp_path):
    rng = np.random.default_rng(0)
    anno = tmp_path / "anno"
    anno.mkdir()
    truth = {}
    for name in ("Alpha", "Beta", "Gamma", "Delta"):
        gt = np.column_stack([rng.uniform(50, 60, 30), rng.uniform(50, 60, 30), np.full(30, 40.0), np.full(30, 30.0)])
        np.savetxt(anno / f"{name.lower()}.txt", gt, delimiter=",", fmt="%.2f")
        truth[name] = gt
    return anno, truth


def test_evaluate_and_compare_seed_folders(annotated, tmp_path, capsys):
    anno, truth = annotated
    good, bad = tmp_path / "good", tmp_path / "bad"
    rng = np.random.default_rng(5)
    _write_seed_results(good, range(3), truth, rng.uniform(0, 3, (3, 4)))
    _write_seed_results(bad, range(3), truth, rng.uniform(12, 18, (3, 4)))
    seqs = "Alpha,Beta,Gamma,Delta"
    assert (
        main(
            [
                "evaluate",
                "--results",
                str(good),
                "--results",
                str(bad),
                "--annotations",
                str(anno),
                "--sequences",
                seqs,
                "--json",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "4 targets x 3 seeds" in out and "95% CI" in out
    stats = json.loads((tmp_path / "e.json").read_text())["good"]["seed_statistics"]["auc"]
    assert stats["seeds"] == 3 and stats["ci_low"] < stats["mean"] < stats["ci_high"]
    argv = [
        "compare",
        str(good),
        str(bad),
        "--annotations",
        str(anno),
        "--sequences",
        seqs,
        "--json",
        str(tmp_path / "c.json"),
        "--plot",
        str(tmp_path / "c.png"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mean delta AUC" in out and "A higher on 4" in out
    payload = json.loads((tmp_path / "c.json").read_text())
    assert payload["mean_delta"]["ci_low"] > 0 and payload["seeds_a"] == 3
    assert set(payload["per_target"]) == {"alpha", "beta", "gamma", "delta"}
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_compare_against_gives_the_difference_of_differences(annotated, tmp_path, capsys):
    """An effect (good − bad) present in setting 1 and absent in setting 2 is found by
    `rlattn compare A B --against C D`; a setting compared with itself gives exactly 0."""
    anno, truth = annotated
    rng = np.random.default_rng(6)
    folders = {n: tmp_path / n for n in ("good1", "bad1", "good2", "bad2")}
    _write_seed_results(folders["good1"], range(3), truth, rng.uniform(0, 3, (3, 4)))
    _write_seed_results(folders["bad1"], range(3), truth, rng.uniform(12, 18, (3, 4)))
    for n in ("good2", "bad2"):  # no effect in setting 2
        _write_seed_results(folders[n], range(2), truth, rng.uniform(12, 18, (2, 4)))
    common = ["--annotations", str(anno), "--sequences", "Alpha,Beta,Gamma,Delta"]
    argv = ["compare", str(folders["good1"]), str(folders["bad1"]), "--against", str(folders["good2"]),
            str(folders["bad2"]), *common, "--json", str(tmp_path / "dd.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mean difference of differences (AUC)" in out and "A - B larger on 4" in out
    payload = json.loads((tmp_path / "dd.json").read_text())
    assert payload["contrast"] == "(a - b) - (c - d)" and payload["mean_delta"]["ci_low"] > 0
    argv = ["compare", str(folders["good1"]), str(folders["bad1"]), "--against", str(folders["good1"]),
            str(folders["bad1"]), *common]
    assert main(argv) == 0
    assert "+0.000" in capsys.readouterr().out


def test_incomplete_seeds_and_targets_are_left_out_and_named(annotated, tmp_path, capsys):
    from rlattn.evaluation.annotations import load_annotations
    from rlattn.evaluation.seeds import evaluate_seeds

    anno, truth = annotated
    keys = ["alpha", "beta", "gamma", "delta"]
    folder = tmp_path / "r"
    _write_seed_results(folder, range(3), truth, np.zeros((3, 4)))
    (folder / "seed2" / "Delta.txt").unlink()  # seed 2 still running: left out, seeds 0-1 have all
    rep = evaluate_seeds(folder, load_annotations(anno), keys)
    assert rep.seeds == [0, 1] and rep.targets == keys
    assert any("seed 2 is incomplete (3 of 4 targets)" in p for p in rep.problems)
    (folder / "seed3").mkdir()  # a seed the runner has just begun: one line, not a list of missing files
    rep = evaluate_seeds(folder, load_annotations(anno), keys)
    assert rep.seeds == [0, 1] and "seed 3 is incomplete (0 of 4 targets): left out" in rep.problems
    (folder / "seed3").rmdir()
    (folder / "seed1" / "Alpha.txt").unlink()  # now no seed has all four: the common targets
    rep = evaluate_seeds(folder, load_annotations(anno), keys, seeds=[1, 2])
    assert rep.seeds == [1, 2] and rep.targets == ["beta", "gamma"]
    assert any("not in every seed" in p and "alpha" in p and "delta" in p for p in rep.problems)
    assert rep.matrix("auc").shape == (2, 2)


def test_single_seed_folder_compares_without_a_ci(annotated, tmp_path, capsys):
    anno, truth = annotated
    from rlattn.results import write_run

    flat = tmp_path / "flat"
    for name, gt in truth.items():
        write_run(flat, name, gt, {})
    seeded = tmp_path / "seeded"
    _write_seed_results(seeded, range(2), truth, np.full((2, 4), 10.0))
    assert (
        main(["compare", str(flat), str(seeded), "--annotations", str(anno), "--sequences", "Alpha,Beta,Gamma,Delta"])
        == 0
    )
    out = capsys.readouterr().out
    assert "(1 seed, no CI)" in out and "seed spread cannot be estimated" in out


def test_seeds_option_and_layout(tmp_path):
    from rlattn.cli import _seeds
    from rlattn.config import TrackerConfig
    from rlattn.experiments import SequenceRef, TrackerSpec, claim_folder, interleave, sequence_tasks

    assert _seeds("0-4") == [0, 1, 2, 3, 4] and _seeds("0,2,7") == [0, 2, 7] and _seeds("3,0-1") == [0, 1, 3]
    spec = TrackerSpec("dat", TrackerConfig.quick(seed=3))
    assert spec.config_hash() == TrackerSpec("dat", TrackerConfig.quick(seed=9)).config_hash()
    refs = [SequenceRef("a", tmp_path / "A"), SequenceRef("b", tmp_path / "B")]
    tasks = sequence_tasks(spec, refs, tmp_path / "out", seeds=[0, 1])
    assert [t.out_dir.name for t in tasks] == ["seed0", "seed0", "seed1", "seed1"]
    assert [t.spec.seed for t in tasks] == [0, 0, 1, 1]
    other = sequence_tasks(TrackerSpec("mdnet", TrackerConfig.quick()), refs, tmp_path / "out0", seeds=[0, 1])
    mixed = interleave([tasks, other])
    assert [(t.spec.name, t.spec.seed, t.ref.key) for t in mixed[:4]] == [
        ("dat", 0, "a"),
        ("mdnet", 0, "a"),
        ("dat", 0, "b"),
        ("mdnet", 0, "b"),
    ]
    # a folder made when the hash included the seed is still recognised, under its old hash
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    old = spec.config_hash(with_seed=True)
    (legacy / "rlattn-config.json").write_text(json.dumps({"config_hash": old, **spec.describe(with_seed=True)}))
    assert claim_folder(legacy, spec) == old


def test_run_seeds_cli_layout_and_resume(tmp_path, capsys):
    from rlattn.datasets import make_synthetic_sequence, write_sequence

    root = tmp_path / "data"
    for i, name in enumerate(("Alpha", "Beta")):
        write_sequence(make_synthetic_sequence(8, seed=i), root / "otb" / name)
    argv = [
        "run",
        "--tracker",
        "kcf",
        "--data-root",
        str(root),
        "--sequences",
        "Alpha,Beta",
        "--seeds",
        "0-1",
        "--results-root",
        str(tmp_path / "res"),
        "--no-progress",
    ]
    assert main(argv) == 0
    (folder,) = (tmp_path / "res").iterdir()
    assert folder.name.startswith("kcf-") and (folder / "rlattn-config.json").is_file()
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.txt")) == [
        "seed0/Alpha.txt",
        "seed0/Beta.txt",
        "seed1/Alpha.txt",
        "seed1/Beta.txt",
    ]
    capsys.readouterr()
    assert main(argv) == 0
    assert "0 done, 4 already there" in capsys.readouterr().out
    assert (
        main(
            [
                "run",
                "--tracker",
                "kcf",
                "--dataset",
                "vot2016",
                "--data-root",
                str(root),
                "--seeds",
                "0-1",
                "--out",
                str(tmp_path / "v"),
            ]
        )
        == 2
    )
    assert "--seeds is for OTB-style runs" in capsys.readouterr().err


def test_ledger_rows_and_tables():
    from rlattn.evaluation.claims import effect_claim, ledger_table, pending_claim, value_claim
    from rlattn.tables import Table

    rng = np.random.default_rng(9)
    b, base = _scores(rng, 3, 10)
    a, _ = _scores(rng, 3, 10, shift=-0.1, base=base)
    row = effect_claim("Table 1", "λ > 0 helps", 0.033, paired_difference(a, b), "10 × 3", "ch. 10")
    assert row.verdict == "not reproduced" and row.ours.count("[") == 1 and "Monte-Carlo error" in row.note
    assert value_claim("Table 3", "AUC", 0.704, 0.7042, "boxes", "ch. 7").verdict == "reproduced"
    assert value_claim("Table 3", "AUC", 0.704, 0.696, "boxes", "ch. 7").verdict == "not reproduced"
    table = ledger_table([row, pending_claim("Table 4", "EAO", "0.320", "not run", "ch. 8")])
    html, markdown = table._repr_html_(), table.to_markdown()
    assert html.count("<tr>") == 3 and "not measured" in html
    assert markdown.splitlines()[0].startswith("|  | paper | claim") and markdown.count("\n") == 4
    t = Table(["a", "b"], caption="c <x>")
    t.add("x|y", 0.12345)
    assert "c &lt;x&gt;" in t._repr_html_() and "text-align:right" in t._repr_html_()
    assert "x\\|y" in t.to_markdown() and "0.123" in str(t)
    with pytest.raises(ValueError):
        t.add(1)


def test_a_finished_task_is_not_redone(tmp_path):
    from rlattn.datasets import make_synthetic_sequence, write_sequence
    from rlattn.experiments import SequenceRef, TrackerSpec, sequence_tasks

    write_sequence(make_synthetic_sequence(6, seed=0), tmp_path / "otb" / "Alpha")
    (task,) = sequence_tasks(TrackerSpec("kcf"), [SequenceRef("alpha", tmp_path / "otb" / "Alpha")], tmp_path / "r")
    assert task().error is None and task.finished()
    stamp = (tmp_path / "r" / "Alpha.txt").stat().st_mtime_ns
    assert task().error is None  # e.g. Dask re-running a task whose result it lost with a worker
    assert (tmp_path / "r" / "Alpha.txt").stat().st_mtime_ns == stamp


def test_a_one_seed_folder_refuses_another_seed(tmp_path):
    from rlattn.config import TrackerConfig
    from rlattn.errors import RlattnError
    from rlattn.experiments import SequenceRef, TrackerSpec, sequence_tasks

    out = tmp_path / "r"
    out.mkdir()
    (out / "Alpha.json").write_text(json.dumps({"config": {"seed": 3}}))
    refs = [SequenceRef("alpha", tmp_path / "Alpha")]
    assert sequence_tasks(TrackerSpec("dat", TrackerConfig.quick(seed=3)), refs, out)
    with pytest.raises(RlattnError, match="holds results of seed 3, not 4"):
        sequence_tasks(TrackerSpec("dat", TrackerConfig.quick(seed=4)), refs, out)
    assert sequence_tasks(TrackerSpec("dat", TrackerConfig.quick(seed=4)), refs, out, seeds=[4])  # seed4/ is free


def test_seeds_never_go_into_a_one_seed_folder_of_old(tmp_path, capsys):
    """A folder made when the hash included the seed holds one seed's files directly: `--seeds`
    must write into the new-layout folder (which chapters read), not into seed<N>/ beside them."""
    from rlattn.config import TrackerConfig
    from rlattn.datasets import make_synthetic_sequence, write_sequence
    from rlattn.errors import RlattnError
    from rlattn.experiments import SequenceRef, TrackerSpec, legacy_results_folder, results_folder, sequence_tasks

    root = tmp_path / "data"
    write_sequence(make_synthetic_sequence(3, seed=0), root / "otb" / "Alpha")
    res = tmp_path / "res"
    spec = TrackerSpec("mdnet", TrackerConfig.quick(mode="fast"))
    old = legacy_results_folder(res, spec)
    old.mkdir(parents=True)
    (old / "rlattn-config.json").write_text(
        json.dumps({"config_hash": spec.config_hash(with_seed=True), **spec.describe(with_seed=True)})
    )
    refs = [SequenceRef("alpha", root / "otb" / "Alpha")]
    with pytest.raises(RlattnError, match="before seeds became a dimension"):
        sequence_tasks(spec, refs, old, seeds=[0, 1])
    assert sequence_tasks(spec, refs, old)  # one seed into it, as before
    assert results_folder(res, spec) == old and results_folder(res, spec, legacy=False) != old
    argv = ["run", "--tracker", "mdnet", "--quick", "--mode", "fast", "--data-root", str(root), "--sequences",
            "Alpha", "--seeds", "0", "--results-root", str(res), "--no-progress"]
    assert main(argv) == 0
    new = results_folder(res, spec, legacy=False)
    assert (new / "seed0" / "Alpha.txt").is_file() and not (old / "seed0").exists()


def test_describe_results_names_only_the_seeds_used(tmp_path):
    import json

    from rlattn.evaluation.claims import describe_results

    for seed, machine in ((0, "CPU A, 2 CPUs"), (1, "CPU A, 2 CPUs"), (2, "CPU B, 2 CPUs")):
        (tmp_path / f"seed{seed}").mkdir()
        info = {"config": {"mode": "fast", "backbone": "efficientnet_lite0", "seed": seed},
                "run": {"machine": machine, "commit": "abc", "finished": "2026-12-02T08:00"}}
        (tmp_path / f"seed{seed}" / "Car4.json").write_text(json.dumps(info))
    text = describe_results(tmp_path, seeds=[0, 1])
    assert "seeds [0, 1]" in text and "CPU B" not in text
    assert "seeds [0, 1, 2]" in describe_results(tmp_path) and "CPU A, 2 CPUs / CPU B" in describe_results(tmp_path)


def test_describe_results_names_every_machine_up_to_three(tmp_path):
    import json

    from rlattn.evaluation.claims import describe_results

    for seed in range(5):
        (tmp_path / f"seed{seed}").mkdir()
        info = {"config": {"mode": "fast", "seed": seed}, "run": {"machine": f"CPU {seed}", "commit": "abc"}}
        (tmp_path / f"seed{seed}" / "Car4.json").write_text(json.dumps(info))
    text = describe_results(tmp_path, seeds=[0, 1, 2])
    assert all(f"CPU {k}" in text for k in range(3)) and "more" not in text
    assert "(+2 more)" in describe_results(tmp_path)


def test_adoption_needs_an_interval_above_zero_and_no_loss_of_speed():
    from rlattn.evaluation.adoption import adoption
    from rlattn.evaluation.statistics import Estimate

    better, covers = Estimate(0.03, 0.01, 0.05, 23, 3), Estimate(0.01, -0.02, 0.04, 23, 3)
    one_seed = Estimate(0.05, None, None, 23, 1)
    assert adoption(better, 5.5, 5.4) == (True, "yes")
    assert adoption(better, 4.5, 5.4) == (False, "no: slower at λ = 5")
    assert adoption(covers, 6.0, 5.4) == (False, "no: Δ not above 0")
    assert adoption(covers, 4.0, 5.4) == (False, "no: Δ not above 0, slower at λ = 5")
    assert adoption(one_seed, 6.0, 5.4) == (False, "no: no interval (one seed)")
    assert adoption(better, None, 5.4) == (False, "no: speed not measured")


def test_seeds_label_names_ranges_and_gaps():
    from rlattn.evaluation.seeds import seeds_label

    assert seeds_label([0]) == "seed 0"
    assert seeds_label([2, 0, 1, 3, 4]) == "seeds 0–4"
    assert seeds_label([0, 2, 5]) == "seeds 0, 2, 5"
    assert seeds_label([None]) == "one seed"


# --- stable intervals: Monte-Carlo error, margins, borderline ------------------------------------


def test_the_monte_carlo_error_matches_the_spread_over_bootstrap_seeds():
    """The batch estimate of a bound's Monte-Carlo error (3 standard errors) covers what other
    bootstrap seeds actually do to the bound, and is not wildly larger."""
    rng = np.random.default_rng(3)
    b, base = _scores(rng, 5, 23)
    a, _ = _scores(rng, 5, 23, shift=-0.03, base=base)
    runs = [paired_difference(a, b, n_boot=20_000, rng=s).mean for s in range(10)]
    spread = max(np.std([r.low for r in runs], ddof=1), np.std([r.high for r in runs], ddof=1))
    estimate = np.mean([r.mc_error for r in runs]) / 3  # one standard error
    assert 0.5 * spread < estimate < 4 * spread
    lows = [r.low for r in runs]
    assert max(lows) - min(lows) < 2 * runs[0].mc_error  # no seed moves a bound beyond the stated error


def test_the_default_draws_keep_the_monte_carlo_error_below_0_002():
    rng = np.random.default_rng(4)
    b, base = _scores(rng, 3, 6, target_sd=0.2, seed_sd=0.15)  # few targets and seeds: the widest case
    a, _ = _scores(rng, 3, 6, target_sd=0.2, seed_sd=0.15, base=base)
    assert paired_difference(a, b).mean.mc_error < 0.002
    assert mean_ci(a).mc_error < 0.002


def test_draws_in_blocks_do_not_depend_on_the_block_boundary():
    from rlattn.evaluation import statistics

    rng = np.random.default_rng(5)
    a, _ = _scores(rng, 3, 8)
    whole = statistics.bootstrap_means(a, 25_000, 1)
    assert whole.shape == (25_000,) and np.isfinite(whole).all()
    assert abs(whole.mean() - a.mean()) < 0.01


def test_decisions_state_their_margin_and_turn_borderline_near_the_line():
    from rlattn.evaluation.statistics import Estimate, decide

    def est(lo, hi, mc=0.001):
        return Estimate((lo + hi) / 2, lo, hi, 23, 5, mc_error=mc)

    d = decide(est(0.010, 0.06), 0.033)
    assert d.verdict == "reproduced" and d.margin == pytest.approx(0.010) and "above 0" in d.against
    d = decide(est(-0.08, 0.017), 0.018)  # 0.001 below the paper's effect, within the error
    assert d.verdict == "borderline" and d.margin == pytest.approx(0.001)
    d = decide(est(-0.08, 0.010), 0.018)
    assert d.verdict == "not reproduced" and d.margin == pytest.approx(0.008) and "covers 0" in d.against
    d = decide(est(-0.02, 0.05), 0.033)
    assert d.verdict == "inconclusive" and d.margin == pytest.approx(0.017) and "above the paper" in d.against
    assert decide(est(-0.0005, 0.05), 0.033).verdict == "borderline"  # the lower bound at 0
    assert decide(Estimate(0.1, None, None, 23, 1), 0.033).verdict == "inconclusive"


def test_a_wilcoxon_p_below_0_05_beside_an_interval_covering_0_is_explained():
    from rlattn.evaluation.claims import effect_claim
    from rlattn.evaluation.statistics import Comparison, Estimate

    cmp = Comparison([str(i) for i in range(23)], np.zeros(23), None, None,
                     Estimate(-0.033, -0.086, 0.018, 23, 5, mc_error=0.001), 0.09, 0.045, 7, 16, 0, 5, 5)
    row = effect_claim("Tables 1–2", "λ = 5 beats λ = 0", 0.033, cmp, "23 × 5", "ch. 10")
    assert row.verdict == "not reproduced" and row.margin == "0.015 to the paper's Δ"
    assert "Wilcoxon p = 0.045" in row.note and "decides" in row.note and "Monte-Carlo error" in row.note
