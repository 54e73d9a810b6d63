"""The cost model behind benchmarks/update_cost.py and the machine description in every speed figure."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from conftest import ROOT

from rlattn.config import TrackerConfig
from rlattn.machine import cpu_description


def _update_cost():
    spec = importlib.util.spec_from_file_location("update_cost", ROOT / "benchmarks" / "update_cost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


XEON = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480C
flags\t\t: fpu avx avx2 avx512f amx_bf16 amx_tile

processor\t: 1
model name\t: another core, never read
"""
EPYC = "processor\t: 0\ncpu family\t: 23\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx avx2 sha_ni\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (XEON, "Intel(R) Xeon(R) Platinum 8480C (family 6, model 143), AMX, "),
        (EPYC, "AMD EPYC (family 23, model 1), AVX2, "),
    ],
)
def test_cpu_description_names_model_and_widest_vector_unit(tmp_path, text, expected):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    assert cpu_description(path).startswith(expected) and cpu_description(path).endswith(" CPUs")


def test_cpu_description_without_proc_cpuinfo(tmp_path):
    assert cpu_description(tmp_path / "missing").endswith(" CPUs")


def test_floor_adds_the_schedule_per_frame():
    cost = _update_cost()
    cfg = TrackerConfig(iters_update=15, long_interval=10, iters_init=50)
    ms = {"mining_ms": 80.0, "scoring_ms": 20.0, "ce_step_ms": 10.0, "reg_fast_ms": 200.0, "reg_exact_ms": 1500.0}
    f = cost.floors(cfg, ms)
    assert f["fast"]["frame_ms"] == pytest.approx(20 + 1.5 * (80 + 10 + 200))
    assert f["exact"]["frame_ms"] == pytest.approx(20 + 1.5 * (80 + 1500))  # no separate cross-entropy pass
    assert f["fast"]["fps_ceiling"] == pytest.approx(1000 / f["fast"]["frame_ms"])
    assert f["fast"]["init_s"] == pytest.approx(50 * 290 / 1000)
    assert f["fast"]["parts_ms"] == pytest.approx(
        {"scoring": 20, "mining": 120, "cross_entropy": 15, "regulariser": 300}
    )
    no_reg = cost.floors(cfg.replace(lam=0.0), ms)
    assert no_reg["fast"]["frame_ms"] == no_reg["exact"]["frame_ms"] == pytest.approx(20 + 1.5 * 90)


def test_update_cost_script_prints_its_floor(tmp_path):
    out_json = tmp_path / "cost.json"
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "update_cost.py"),
        "--quick",
        "--repeats",
        "1",
        "--json",
        str(out_json),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "machine:" in out and "GFLOP/s" in out and "regulariser" in out
    assert out.count("FPS") == 2 and "fast: floor" in out and "exact: floor" in out
    record = json.loads(out_json.read_text())
    assert record["ms"]["reg_exact_ms"] > record["ms"]["reg_fast_ms"] > 0
    assert f"at most {record['floor']['fast']['fps_ceiling']:.2f} FPS" in out
