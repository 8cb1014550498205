# SPDX-License-Identifier: Apache-2.0
"""bench/firmware.py in its quick mode (bench/benchlib.py), as tests/bench/test_bench_quick.py
runs the others: QEMU + SeaBIOS under TCG boot the ISO of scripts/mkimage.sh to the test guest
(seconds, no KVM); OVMF boots the EFI disk twice (fresh vars, kept vars) where KVM runs it
(petrel's rows then carry the vars flash's writes from --stats), and the bench says why it skips
those rows elsewhere (a PVM host). Once `petrel run` has --firmware, the bench adds petrel's rows
where /dev/kvm opens; then this test needs KVM there (require_kvm registers it), and QEMU's rows
alone elsewhere.
Its own file: a new entry in test_bench_quick.py would make the KVM record of every bench there stale."""
import os
import pathlib
import subprocess
import sys

import pytest

import fwlib
import petrel_test

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))


def test_firmware_bench_quick():
    if fwlib.missing_tools():
        pytest.skip(f"missing {', '.join(fwlib.missing_tools())} (scripts/setup.sh)")
    help_ = subprocess.run([str(BUILD / "petrel"), "run", "--help"], capture_output=True, text=True)
    if "--firmware" in help_.stdout + help_.stderr and petrel_test.kvm_usable():
        petrel_test.require_kvm()
    env = dict(os.environ, BENCH_QUICK="1", PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "firmware.py")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"bench/firmware.py failed ({r.returncode}):\n{out[-3000:]}"
    assert "QEMU to GRUB" in r.stdout, f"bench/firmware.py: no 'QEMU to GRUB' in its output:\n{out[-3000:]}"
    ovmf_rows = "| grub-efi-disk (second boot) |" in r.stdout
    assert ovmf_rows or "grub-efi-disk: skipped: " in r.stdout, \
        f"bench/firmware.py: neither OVMF rows nor why they are skipped:\n{out[-3000:]}"
    first = [line.split("|") for line in r.stdout.splitlines()
             if line.startswith("| grub-efi-disk (first boot) | petrel")]
    for row in first:   # OVMF writes its boot entries on a first boot: petrel's --stats counted them
        assert row[7].count(" / ") == 2 and "?" not in row[7], f"petrel's vars writes not read:\n{out[-3000:]}"
        programs, erases, written = (int(x) for x in row[7].split(" / "))
        assert programs > 0 and written > 0, f"no vars writes counted:\n{out[-3000:]}"
