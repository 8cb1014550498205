# SPDX-License-Identifier: Apache-2.0
"""bench/manager.py's quick mode runs (its figures are printed, not asserted: bench/README.md)."""
import shutil
import subprocess
import sys

import mgrlib


def test_bench_manager_quick():
    r = subprocess.run([sys.executable, str(mgrlib.REPO / "bench" / "manager.py"), "--quick"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "20 defined VMs: petreld RSS" in r.stdout
    assert "petrelctl list --all with 20 VMs" in r.stdout
    assert ("running VMs: petreld RSS" in r.stdout) == mgrlib.has_kvm()
    assert ("clones of one snapshot, all running" in r.stdout) == mgrlib.has_kvm()
    assert ("peer libvirtd" in r.stdout) == bool(shutil.which("libvirtd"))
