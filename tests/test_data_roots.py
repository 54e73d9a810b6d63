"""One rule for where the data is, and chapters and commands that work (or say how to get data)
on a machine that has none."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rlattn.datasets.otb as otb
from rlattn.cli import main
from rlattn.datasets.otb import default_data_root, user_data_root
from rlattn.datasets.selection import choose_data
from rlattn.experiments import resolve_sequences


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """A machine with no ../shared, no $RLATTN_DATA and an empty cache folder."""
    monkeypatch.delenv("RLATTN_DATA", raising=False)
    monkeypatch.delenv("RLATTN_DATA_ROOT", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(otb, "shared_candidates", lambda: [tmp_path / "nowhere"])
    return tmp_path


def test_the_order_of_data_roots(no_data, monkeypatch):
    assert default_data_root() is None
    user = user_data_root()
    assert user == no_data / "cache" / "rlattn"
    (user / "otb").mkdir(parents=True)
    assert default_data_root() == user  # what `rlattn data get` filled
    shared = no_data / "shared" / "data"
    shared.mkdir(parents=True)
    monkeypatch.setattr(otb, "shared_candidates", lambda: [shared])
    assert default_data_root() == shared  # ../shared beats the cache
    monkeypatch.setenv("RLATTN_DATA", str(no_data / "mine"))
    assert default_data_root() == no_data / "mine"  # and $RLATTN_DATA beats both


def test_chapters_choose_synthetic_sequences_without_data(no_data, capsys):
    data = choose_data(["Car4", "Girl"], synthetic_root=no_data / "synthetic")
    assert data.synthetic and data.dataset == "synthetic" and len(data.names) == 2
    assert "synthetic" in data.note and "rlattn data get" in data.note
    refs, missing = resolve_sequences(data.root, data.dataset, data.names, 5)
    assert not missing and len(refs[0].load()) == 5
    assert data.annotations == no_data / "synthetic" / "otb"


def test_chapters_use_the_benchmark_where_there_is_one(no_data, monkeypatch):
    root = no_data / "bench"
    (root / "otb").mkdir(parents=True)
    monkeypatch.setenv("RLATTN_DATA", str(root))
    data = choose_data(["Car4"])
    assert not data.synthetic and data.root == root and data.names == ["Car4"]


@pytest.mark.parametrize("command", [["run", "--tracker", "kcf", "--dataset", "otb2015"], ["evaluate"]])
def test_commands_without_data_say_how_to_get_it(no_data, capsys, command):
    argv = [*command, "--out", str(no_data / "x")] if command[0] == "run" else [*command, "--results", "r"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "rlattn data get" in err and "RLATTN_DATA" in err and len(err.strip().splitlines()) == 1


def test_a_closed_pipe_is_not_an_error():
    """`rlattn data list | head -1`: the reader stops early; the command ends quietly with 0."""
    proc = subprocess.Popen([sys.executable, "-m", "rlattn.cli", "data", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command writes a line
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""
