"""The book's findings: generated from the committed results, stable to the bootstrap's seed, and
never typed by hand into the README or the book's pages."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, SHARED, needs_shared

from rlattn.cli import main
from rlattn.evaluation.statistics import BORDERLINE
from rlattn.findings import README_BEGIN, README_END, Evidence, readme_with_headline

RESULT = re.compile(r"(?<![\d.])[−+-]?0\.\d{3}(?!\d)")  # how a result is written: 0.704, −0.033, +0.017


@pytest.fixture(scope="module")
def evidence() -> Evidence:
    return Evidence.from_data_root(SHARED, ROOT / "data" / "results" / "otb")


@needs_shared
def test_the_committed_pages_are_what_the_results_give(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code = main(["ledger", "--check", "--data-root", str(SHARED)])
    out = capsys.readouterr().out
    assert code == 0, f"{out}\nrun `rlattn ledger --write` after committing results"


@needs_shared
def test_no_verdict_changes_with_the_bootstrap_seed_unless_marked_borderline(evidence):
    first, second = evidence.ledger(rng=0), evidence.ledger(rng=1)
    assert [c.claim for c in first] == [c.claim for c in second]
    for a, b in zip(first, second):
        if BORDERLINE not in (a.verdict, b.verdict):
            assert a.verdict == b.verdict, (a.claim, a.ours, b.ours)
    readings = [(x.finding.name, x.comparison) for x in evidence.results(rng=0)]
    again = {x.finding.name: x.comparison for x in evidence.results(rng=1)}
    for name, cmp in readings:
        if cmp is not None and cmp.mean.has_ci:
            other = again[name].mean
            assert abs(cmp.mean.low - other.low) <= cmp.mean.mc_error, name
            assert abs(cmp.mean.high - other.high) <= cmp.mean.mc_error, name


def test_the_book_types_no_result():
    """Numbers about our results live in book/generated/ (included by the pages), never in them."""
    typed = {}
    for page in sorted((ROOT / "book").glob("*.md")):
        found = RESULT.findall(page.read_text(encoding="utf-8"))
        if found:
            typed[page.name] = found
    assert not typed, f"typed results (put them in rlattn.findings): {typed}"


def test_the_readme_states_intervals_only_in_its_generated_block():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(README_BEGIN) == 1 and readme.count(README_END) == 1
    head, rest = readme.split(README_BEGIN)
    block, tail = rest.split(README_END)
    assert len(head.splitlines()) < 15, "the headline belongs on the first screen"
    outside = head + tail
    assert not re.search(r"95% CI \[|\[[−+-]0\.\d{3}, [−+-]?0\.\d{3}\]", outside), "an interval typed outside the block"
    assert "Δ AUC" in block and ("95% CI" in block or "not measured" in block)


def test_the_readme_block_is_replaced_whole():
    text = f"a\n{README_BEGIN}\nold\n{README_END}\nb"
    assert readme_with_headline(text, "new") == f"a\n{README_BEGIN}\nnew\n{README_END}\nb"


def test_ledger_without_annotations_is_one_line(tmp_path, capsys):
    assert main(["ledger", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no OTB annotations" in err
    assert main(["ledger", "--n-boot", "10", "--data-root", str(tmp_path)]) == 2
    assert "--n-boot must be >= 1000" in capsys.readouterr().err
