# SPDX-License-Identifier: Apache-2.0
"""bench/cpu_roundtrip and bench/host_cpus.py: how far apart the host's first two CPUs are, which
bench/run.py blk prints beside each row and waits on before each round (docs/performance.md
#blk-far-cpus). No KVM."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
TOOL = BUILD / "bench" / "cpu_roundtrip"
sys.path.insert(0, str(ROOT / "bench"))
import host_cpus  # noqa: E402

CPUS = sorted(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs")


def test_roundtrip_between_two_cpus():
    r = subprocess.run([str(TOOL), "2000"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"roundtrip_ns=([\d.]+) cpus=(\d+),(\d+)\n", r.stdout)
    assert m, r.stdout
    assert float(m.group(1)) > 0
    assert [int(m.group(2)), int(m.group(3))] == CPUS[:2]


def test_a_cpu_it_may_not_use_is_an_error():
    absent = max(CPUS) + 1  # not in this process's set (or not on this host at all)
    r = subprocess.run([str(TOOL), "100", str(CPUS[0]), str(absent)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2
    assert f"cannot run on CPU {absent}" in r.stderr
    r = subprocess.run([str(TOOL), "0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "N > 0" in r.stderr


@pytest.fixture
def build(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "cpu_roundtrip").symlink_to(TOOL)
    return tmp_path


def test_the_best_is_kept_and_far_is_three_times_it(build, monkeypatch):
    monkeypatch.setenv("BENCH_CPU_SETTLE_S", "0")
    cpus = host_cpus.HostCpus(build)
    assert cpus.best is None and not cpus.far(1e9)   # nothing known yet: nothing is far
    ns = cpus.measure()
    assert ns and cpus.best <= ns
    kept = float((build / "cpu-roundtrip-best").read_text())
    assert kept == cpus.best
    assert cpus.far(3.01 * kept) and not cpus.far(3 * kept) and not cpus.far(None)
    # a later bench on this host starts from it, and a better figure replaces it
    (build / "cpu-roundtrip-best").write_text("0.001\n")
    again = host_cpus.HostCpus(build)
    assert again.best == 0.001 and again.far(1.0)
    (build / "cpu-roundtrip-best").write_text("1e9\n")
    third = host_cpus.HostCpus(build)
    third.measure()
    assert third.best < 1e9 and float((build / "cpu-roundtrip-best").read_text()) == third.best


def test_an_old_best_is_not_trusted(build, monkeypatch):
    best = build / "cpu-roundtrip-best"
    best.write_text("0.001\n")
    old = best.stat().st_mtime - host_cpus.BEST_KEPT_S - 60
    os.utime(best, (old, old))
    assert host_cpus.HostCpus(build).best is None


def test_settle_gives_up_after_its_time_and_says_so(build, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_CPU_SETTLE_S", "0")
    (build / "cpu-roundtrip-best").write_text("0.001\n")  # every real figure is "far" from this
    cpus = host_cpus.HostCpus(build)
    assert cpus.settle() > 0.003   # the figure it gave up on
    out = capsys.readouterr().out
    assert "stayed" in out and "measured anyway" in out
