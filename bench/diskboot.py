#!/usr/bin/env python3
"""A boot from the disk (issue 55, docs/images.md#booting-from-the-disk) beside the same kernel given
as kernel_image_path: milliseconds from `petrel run`'s start to the test guest's first output
("boot: protocol=..."), and the disk part of it (petrel's own "boot from disk: ... (T ms)": the
partition table, the ext4 file system opened by libext2fs, grub.cfg read and run, the kernel and
initrd read through the block layer). The goal: the direct path within 5 % of a given kernel.

Rows, interleaved run by run so that the host's drift falls on all alike: `--kernel K --initrd I`
(files on the host); `--from-disk` on a raw MBR+ext4 disk of scripts/mkimage.sh's direct-disk
holding K and I under grub.cfg; the same through a qcow2 overlay of that disk (petrel's qcow2
layer). K is the boot test guest (a bzImage), I an initrd of BENCH_DISKBOOT_INITRD_MIB (default 16)
MiB of random bytes (not an archive petrel decompresses: read and copied as a Debian cloud
kernel's initrd would be), so the disk path reads as much as a real boot's initrd.

  python3 bench/diskboot.py                  BENCH_DISKBOOT_RUNS runs per row (default 20), medians
  BENCH_QUICK=1 python3 bench/diskboot.py    one run per row, a 1 MiB initrd
Needs /dev/kvm; the qcow2 row needs qemu-img.
"""
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import petrel_test  # noqa: E402,F401
import fwlib  # noqa: E402
from petrel_test.kvm_record import host_kind  # noqa: E402
from benchlib import QUICK, failed, pick, runs  # noqa: E402

BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
GUEST = BUILD / "tests" / "guests" / "boot.bzimage"
FIRST = "boot: protocol="
CMDLINE = "petrel-test-token=1234"
DISK_MS = re.compile(r"boot from disk: .* \(([\d.]+) ms\)")


def one(argv):
    b = fwlib.run_timed(argv, [FIRST, "ok boot"], timeout=60, stop_at="ok boot")
    if FIRST not in b.marks:
        failed(f"no guest output from {' '.join(map(str, argv))}:\n{b.out[-2000:]}")
        return None, None
    m = DISK_MS.search(b.out)
    return b.marks[FIRST] * 1000, float(m.group(1)) if m else None


def main():
    if not PETREL.exists() or not GUEST.exists():
        sys.exit(f"bench/diskboot.py: build petrel and its test guests first ({PETREL}, {GUEST})")
    if not petrel_test.kvm_usable():
        sys.exit("bench/diskboot.py: needs /dev/kvm")
    n = runs("BENCH_DISKBOOT_RUNS", 20)
    mib = pick(int(os.environ.get("BENCH_DISKBOOT_INITRD_MIB", 16)), 1)
    with tempfile.TemporaryDirectory(prefix="petrel-diskboot-") as tmp:
        tmp = pathlib.Path(tmp)
        initrd = tmp / "initrd"
        initrd.write_bytes(os.urandom(mib << 20))
        disk = tmp / "disk.img"
        fwlib.mkimage("direct-disk", disk, "mbr-ext4", GUEST, initrd, CMDLINE)
        base = [str(PETREL), "run", "--level", "Info", "--mem", "256", "--debug-exit"]
        rows = {"kernel_image_path (host files)": base + ["--kernel", str(GUEST), "--initrd", str(initrd),
                                                          "--cmdline", CMDLINE],
                "from_disk, raw MBR+ext4": base + ["--from-disk", "--disk", f"{disk},ro"]}
        if shutil.which("qemu-img"):
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "disk.img", "-F", "raw", "over.qcow2"],
                           cwd=tmp, check=True)
            rows["from_disk, qcow2 overlay"] = base + ["--from-disk", "--disk", f"{tmp / 'over.qcow2'},ro"]
        else:
            print("from_disk, qcow2 overlay: skipped: no qemu-img")
        got = {k: ([], []) for k in rows}
        for _ in range(n):
            for name, argv in rows.items():
                first, disk_ms = one(argv)
                if first is not None:
                    got[name][0].append(first)
                if disk_ms is not None:
                    got[name][1].append(disk_ms)
    print(f"Boot from the disk vs a given kernel ({host_kind(True)} host, {n} run(s) per row, interleaved; "
          f"the boot guest, a {mib} MiB initrd)")
    print("| row | start -> guest's first output, median (min) | petrel's disk part (read the disk, load the guest's memory), median |")
    print("|---|---|---|")
    ref = statistics.median(got["kernel_image_path (host files)"][0]) if got["kernel_image_path (host files)"][0] else None
    for name, (firsts, disks) in got.items():
        if not firsts:
            failed(f"{name}: no run measured")
            continue
        med = statistics.median(firsts)
        rel = f" ({(med / ref - 1) * 100:+.1f} %)" if ref and not name.startswith("kernel") else ""
        part = f"{statistics.median(disks):.1f} ms" if disks else "-"
        print(f"| {name} | {med:.1f} ms{rel} ({min(firsts):.1f} ms) | {part} |")


if __name__ == "__main__":
    main()
