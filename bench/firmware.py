#!/usr/bin/env python3
"""Firmware boot, petrel beside QEMU 7.2 with the same firmware and disk (issue 52): seconds from
the VMM's start to GRUB's output ("petrel-grub: menu", which grub.cfg echoes before its menu),
to the test guest's first output (the `boot` guest's first line, "boot: protocol=...") and to
its exit (the debug-exit port), for the two images of scripts/mkimage.sh that carry the test
guest: a grub-mkrescue hybrid ISO and the MBR disk, both on virtio-blk-pci. GRUB's timeout is
PETREL_GRUB_TIMEOUT (mkimage.sh's default 1 s) in every row alike.

  python3 bench/firmware.py           BENCH_FW_RUNS runs (default 3) of each row, medians
  BENCH_QUICK=1 python3 bench/firmware.py   one run, the ISO only, QEMU under TCG (seconds)
  env: BENCH_QEMU_ACCEL (kvm when /dev/kvm opens, else tcg; tcg in quick mode), BENCH_QEMU=0
  (no QEMU rows), BENCH_FW_IMAGES=grub-iso,grub-disk, BENCH_FW_TIMEOUT (s per boot, default 600)

QEMU: `-machine pc -accel ACCEL -bios /usr/share/seabios/bios-256k.bin`, the image as a
read-only virtio-blk-pci drive, serial on stdio, -no-reboot, isa-debug-exit at 0xf4
(tests/firmware/fwlib.py). petrel: `petrel run --firmware seabios --no-reboot --debug-exit
--mem 256 --disk IMAGE,ro --stats` (petrel_argv below), with its exits from --stats; its rows
appear once `petrel run --help` offers --firmware, and only with /dev/kvm. The PVM figures of
the issue (2026-11-27, QEMU with KVM, a grub-mkrescue ISO): GRUB at 59.6 s, the kernel's
first output at 72.5 s. docs/firmware.md keeps the figures.
"""
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import petrel_test  # noqa: E402
import fwlib  # noqa: E402
from petrel_test.kvm_record import host_kind  # noqa: E402
from benchlib import QUICK, failed, pick, runs  # noqa: E402

BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
GUEST = BUILD / "tests" / "guests" / "boot.bzimage"
GUEST_LINE = "boot: protocol="   # the boot guest's first output
PASS = "ok boot"
MEM = 256
TIMEOUT = float(os.environ.get("BENCH_FW_TIMEOUT", 600))
MARKS = [fwlib.GRUB_MARKER, GUEST_LINE, PASS]


def petrel_argv(image):
    """The petrel side: SeaBIOS from Debian's package, the image as a read-only virtio-blk disk
    on PCI (the firmware's boot disk), the guest's verdict through the debug-exit port."""
    return fwlib.petrel_argv([f"{image},ro"], mem=MEM, extra=("--no-reboot", "--stats"), petrel=PETREL)


def petrel_has_firmware():
    if not PETREL.exists():
        return False
    r = subprocess.run([str(PETREL), "run", "--help"], capture_output=True, text=True)
    return "--firmware" in r.stdout + r.stderr


def qemu_accel():
    if "BENCH_QEMU_ACCEL" in os.environ:
        return os.environ["BENCH_QEMU_ACCEL"]
    return "tcg" if QUICK or not petrel_test.kvm_usable() else "kvm"


def exits_of(out):
    m = re.search(r"^\s+total\s+(\d+)", out, re.M)
    return int(m.group(1)) if m else None


def boot_once(vmm, argv, guest_ok):
    """One boot; a dict of the seconds to each mark and the exits, or None (failed() said why)."""
    b = fwlib.run_timed(argv, MARKS, timeout=TIMEOUT)
    missing = [m for m in MARKS if m not in b.marks]
    if b.rc is None or missing or not guest_ok(b.rc):
        failed(f"{vmm}: boot failed (rc {b.rc}, missing {missing}, {b.seconds:.1f} s):\n{b.out[-2000:]}")
        return None
    return {"grub": b.marks[fwlib.GRUB_MARKER], "guest": b.marks[GUEST_LINE], "exit": b.seconds,
            "exits": exits_of(b.out)}


def median(rows, key):
    xs = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(xs) if xs else None


def fmt(x, unit=""):
    return "?" if x is None else f"{x:.2f}{unit}" if isinstance(x, float) else f"{x}{unit}"


def main():
    missing = fwlib.missing_tools()
    if missing:
        sys.exit(f"bench/firmware.py: missing {', '.join(missing)} (scripts/setup.sh)")
    if not GUEST.exists():
        sys.exit(f"bench/firmware.py: {GUEST} is not built (ninja -C {BUILD})")
    images = pick(os.environ.get("BENCH_FW_IMAGES", "grub-iso,grub-disk"), "grub-iso").split(",")
    n = runs("BENCH_FW_RUNS", 3)
    accel = qemu_accel()
    want_qemu = os.environ.get("BENCH_QEMU", "1") != "0"
    want_petrel = petrel_has_firmware() and petrel_test.kvm_usable()
    print(f"host: {platform.node()} ({host_kind(petrel_test.kvm_usable())}), QEMU accel {accel}, {n} run(s) per row, "
          f"GRUB timeout {os.environ.get('PETREL_GRUB_TIMEOUT', '1')} s")
    if not want_petrel:
        print("petrel: no rows (" + ("no /dev/kvm" if petrel_has_firmware() else
                                     f"{PETREL} run has no --firmware yet") + ")")
    results = []   # (image, vmm, [dicts])
    with tempfile.TemporaryDirectory(prefix="petrel-bench-fw-") as tmp:
        for target in images:
            image = pathlib.Path(tmp) / f"{target}.img"
            secs, _ = fwlib.mkimage(target, image, GUEST, "", fwlib.GUEST_CMDLINE)
            print(f"{target}: {image.stat().st_size / 2**20:.1f} MiB, mkimage {secs:.1f} s")
            sides = []
            if want_qemu:
                sides.append((f"QEMU ({accel})", fwlib.qemu_argv(image, accel=accel, mem=MEM),
                              lambda rc: fwlib.qemu_guest_status(rc) == 0))
            if want_petrel:
                sides.append(("petrel (kvm)", petrel_argv(image), lambda rc: rc == 0))
            rows = {vmm: [] for vmm, _, _ in sides}
            for _ in range(n):   # interleaved: a drifting host weighs on both alike
                for vmm, argv, ok in sides:
                    r = boot_once(vmm, argv, ok)
                    if r:
                        rows[vmm].append(r)
            results += [(target, vmm, rows[vmm]) for vmm, _, _ in sides]

    print()
    print("| image | VMM | to GRUB (s) | to guest output (s) | to exit (s) | exits | runs |")
    print("|---|---|---|---|---|---|---|")
    for target, vmm, rows in results:
        exits = median(rows, "exits")
        exits = None if exits is None else round(exits)   # a median of two counts may end in .5
        print(f"| {target} | {vmm} | {fmt(median(rows, 'grub'))} | {fmt(median(rows, 'guest'))} | "
              f"{fmt(median(rows, 'exit'))} | {fmt(exits)} | {len(rows)} |")
        if vmm.startswith("QEMU"):
            print(f"{target}: QEMU to GRUB {fmt(median(rows, 'grub'), ' s')}, "
                  f"to the guest {fmt(median(rows, 'guest'), ' s')}")
    by = {(t, v.split()[0]): rows for t, v, rows in results}
    for target in images:
        q, p = by.get((target, "QEMU")), by.get((target, "petrel"))
        if q and p:
            for key, what in (("grub", "to GRUB"), ("guest", "to the guest")):
                print(f"{target}: petrel/QEMU {what}: {median(p, key) / median(q, key):.2f}")


if __name__ == "__main__":
    main()
