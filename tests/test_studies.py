"""The committed studies by name: their folders are pinned (a new configuration field that enters
the hash would rename them and orphan their results) and a study in progress says how far it is."""

from __future__ import annotations

import shutil

import pytest
from conftest import ROOT

from rlattn.errors import RlattnError
from rlattn.studies import SHARED_TARGETS, STUDIES, get_study, load_study

PINNED = {
    "fast-lambda0": "mdnet_fast_lambda0-bff928243c8a",
    "fast-lambda5": "dat_fast_lambda5-e0a6b10a2bd6",
    "fast-attfeat": "attfeat_fast_lambda0-21f67e37705a",
    "fast-relative1": "dat_fast_lambda1-115ce360faeb",
    "fast-energy5": "dat_fast_lambda5-75229bbb2554",
    "fast-lambda5-32": "dat_fast_lambda5-17a30070ed79",
    "fast-lite1": "mdnet_fast_lambda0-a3c2264d5b79",
    "fast-lite2": "mdnet_fast_lambda0-3f0beb338f1a",
    "fast-lite0-s8": "mdnet_fast_lambda0-1b6524d7c8eb",
    "exact-lambda0": "mdnet_exact_lambda0-25d727a0c993",
    "exact-lambda5": "dat_exact_lambda5-06286e5c334a",
    "exact-relative1": "dat_exact_lambda1-b2512eb2e44f",
}


def test_every_study_keeps_its_folder():
    assert {name: s.folder().name for name, s in STUDIES.items()} == PINNED


def test_the_committed_studies_are_in_the_repository():
    for name, folder in PINNED.items():
        if name != "exact-relative1":  # not begun yet
            assert (ROOT / "data" / "results" / "otb" / folder / "rlattn-config.json").is_file(), name


def test_a_study_names_its_command():
    cmd = STUDIES["exact-relative1"].command()
    assert cmd.startswith("rlattn run --tracker dat --mode exact --lambda 1 --reg-weighting relative --seeds 0-2")
    assert ",".join(SHARED_TARGETS) in cmd
    assert "--backbone efficientnet_lite1" in STUDIES["fast-lite1"].command()


def test_unknown_study_is_one_line():
    with pytest.raises(RlattnError, match="unknown study 'x'; known: fast-lambda0"):
        get_study("x")


def test_a_study_in_progress_counts_its_runs_and_scores_nothing(tmp_path):
    study = STUDIES["exact-lambda5"]
    source = study.folder(ROOT / "data" / "results" / "otb")
    dest = study.folder(tmp_path)
    (dest / "seed0").mkdir(parents=True)
    for t in ("Deer", "Skiing"):
        for ext in ("txt", "json"):
            shutil.copy(source / "seed0" / f"{t}.{ext}", dest / "seed0" / f"{t}.{ext}")
    s = load_study(study, {}, tmp_path)
    assert s.report is None and s.done == 2 and not s.complete
    assert s.status == "2 of 69 runs done (23 targets × 3 seeds)"
    assert load_study("exact-relative1", {}, tmp_path).status == "not run"


def test_run_study_expands_to_the_studys_own_configuration():
    from rlattn.cli import _expand_study, _tracker_specs, build_parser

    given = ["--seeds", "1", "--scheduler", "local", "--workers", "2"]
    argv = _expand_study(["run", "--study", "exact-relative1", *given])
    args = build_parser().parse_args(argv)
    assert args.seeds == [1] and args.scheduler == "local" and args.workers == 2
    assert args.results_root == ROOT / "data" / "results" / "otb"
    assert args.sequences == ",".join(SHARED_TARGETS)
    (spec, _), = _tracker_specs(args)
    assert spec.config_hash() == STUDIES["exact-relative1"].spec.config_hash()
    for name, study in STUDIES.items():  # every study's command builds exactly its configuration
        (spec, _), = _tracker_specs(build_parser().parse_args(_expand_study(["run", "--study", name])))
        assert spec.config_hash() == study.spec.config_hash() and spec.name == study.spec.name, name


def test_run_study_refuses_what_the_study_fixes(capsys):
    from rlattn.cli import main

    assert main(["run", "--study", "fast-lambda5", "--lambda", "3"]) == 2
    assert "--study fast-lambda5 sets --lambda itself" in capsys.readouterr().err
    assert main(["run", "--study", "nope"]) == 2
    assert "unknown study 'nope'" in capsys.readouterr().err


def test_committed_manifests_carry_their_studys_hash():
    import json

    for name, study in STUDIES.items():
        manifest = study.folder(ROOT / "data" / "results" / "otb") / "rlattn-config.json"
        if manifest.is_file():
            assert json.loads(manifest.read_text())["config_hash"] == study.spec.config_hash(study.frames), name
