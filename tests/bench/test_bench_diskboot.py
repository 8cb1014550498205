# SPDX-License-Identifier: Apache-2.0
"""bench/diskboot.py in its quick mode (bench/benchlib.py), as tests/bench/test_bench_quick.py runs
the others: one boot from a direct-disk image (raw, and a qcow2 overlay where qemu-img is) beside
the same kernel as kernel_image_path, and through SeaBIOS + GRUB (OVMF + GRUB where OVMF starts: not
on a PVM host, where the bench says so). Needs KVM. Its own file: a new entry in test_bench_quick.py
would make the KVM record of every bench there stale."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import petrel_test

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_diskboot_bench_quick():
    petrel_test.require_kvm()
    missing = [t for t in ("sfdisk", "mkfs.ext2") if not shutil.which(t)]
    if missing:
        pytest.skip("missing " + ", ".join(missing))
    env = dict(os.environ, BENCH_QUICK="1", PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "diskboot.py")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=1200)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"bench/diskboot.py failed ({r.returncode}):\n{out[-3000:]}"
    assert "| from_disk, raw MBR+ext4 |" in r.stdout and "| kernel_image_path (host files) |" in r.stdout, out[-3000:]
    if not shutil.which("grub-mkimage"):
        return
    assert "| SeaBIOS + GRUB (MBR+ext2) |" in r.stdout, out[-3000:]
    if pathlib.Path("/sys/module/kvm_pvm").exists():
        assert "OVMF + GRUB (GPT+ESP): skipped: a PVM host" in r.stdout, out[-3000:]
    elif "OVMF + GRUB (GPT+ESP): skipped" not in r.stdout:
        assert "| OVMF + GRUB (GPT+ESP) |" in r.stdout, out[-3000:]
