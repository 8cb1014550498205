#!/usr/bin/env python3
"""Firmware boot, petrel beside QEMU 7.2 with the same firmware and disk (issues 52 and 53):
seconds from the VMM's start to GRUB's output ("petrel-grub: menu", which grub.cfg echoes
before its menu), to the test guest's first output (the `boot` guest's first line, "boot:
protocol=...") and to its exit (the debug-exit port), for the images of scripts/mkimage.sh
that carry the test guest, each on virtio-blk-pci: through SeaBIOS a grub-mkrescue hybrid ISO
and the MBR disk; through OVMF the GPT disk with GRUB's EFI image (grub-efi-disk), booted twice
on one vars file: the first boot from a fresh copy of OVMF_VARS_4M.fd, the second with what
the first wrote (two rows). GRUB's timeout is PETREL_GRUB_TIMEOUT (mkimage.sh's default 1 s)
in every row alike.

  python3 bench/firmware.py           BENCH_FW_RUNS runs (default 3) of each row, medians
  BENCH_QUICK=1 python3 bench/firmware.py   one run, the ISO and the EFI disk, QEMU under TCG
                                      (seconds; the OVMF rows only where KVM runs OVMF, QEMU there with KVM)
  env: BENCH_QEMU_ACCEL (kvm when /dev/kvm opens, else tcg; tcg in quick mode), BENCH_QEMU=0
  (no QEMU rows), BENCH_FW_IMAGES=grub-iso,grub-disk,grub-efi-disk, BENCH_FW_TIMEOUT (s per boot,
  default 600)

QEMU: `-machine pc -accel ACCEL`, SeaBIOS as `-bios /usr/share/seabios/bios-256k.bin` or OVMF as
two pflash units (OVMF_CODE_4M.fd read-only, the vars copy writable), the image as a read-only
virtio-blk-pci drive, serial on stdio, -no-reboot, isa-debug-exit at 0xf4 (tests/firmware/fwlib.py).
petrel: `petrel run --firmware seabios|ovmf [--firmware-vars VARS] --no-reboot --debug-exit
--mem 256 --disk IMAGE,ro --stats` (petrel_argv below), with its exits from --stats; its rows
appear once `petrel run --help` offers --firmware, and only with /dev/kvm.

The vars file's writes per boot: petrel's --stats counts the flash's programs and block erases
and the bytes they wrote into the file ("firmware vars:" line); for both VMMs the bench compares
the file before and after the boot (bytes changed), QEMU's peer figure. OVMF cannot start on a
PVM host (docs/firmware.md): its rows are skipped there, saying so.

The PVM figures of issue 52 (2026-11-27, QEMU with KVM, a grub-mkrescue ISO): GRUB at 59.6 s,
the kernel's first output at 72.5 s. docs/firmware.md keeps the figures.
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
PVM = pathlib.Path("/sys/module/kvm_pvm")
VARS_LINE = re.compile(r"^\s+firmware vars: (\d+) programs, (\d+) block erases, (\d+) bytes written", re.M)
BOOTS = ("first", "second")   # an OVMF image's boots on one vars file: fresh, then kept


def is_efi(target):
    return target.startswith("grub-efi")


def petrel_argv(image, firmware="seabios", vars=None):
    """The petrel side: Debian's SeaBIOS or OVMF (its variables in `vars`), the image as a
    read-only virtio-blk disk on PCI (the firmware's boot disk), the guest's verdict through the
    debug-exit port."""
    return fwlib.petrel_argv([f"{image},ro"], mem=MEM, extra=("--no-reboot", "--stats"), petrel=PETREL,
                             firmware=firmware, vars=vars)


def petrel_has_firmware():
    if not PETREL.exists():
        return False
    r = subprocess.run([str(PETREL), "run", "--help"], capture_output=True, text=True)
    return "--firmware" in r.stdout + r.stderr


def qemu_accel(efi=False):
    """QEMU's accelerator: the quick mode's TCG is seconds for SeaBIOS but minutes for OVMF, whose
    rows there run only with KVM (ovmf_unavailable)."""
    if "BENCH_QEMU_ACCEL" in os.environ:
        return os.environ["BENCH_QEMU_ACCEL"]
    return "tcg" if (QUICK and not efi) or not petrel_test.kvm_usable() else "kvm"


def ovmf_unavailable():
    """Why the OVMF rows cannot run here, or None."""
    missing = fwlib.missing_efi_tools()
    if missing:
        return f"missing {', '.join(missing)} (scripts/setup.sh)"
    if PVM.exists():
        return ("a PVM host: OVMF cannot start there (its first stage runs in ring 0, which PVM emulates; "
                "QEMU with the same OVMF printed nothing in 300 s: docs/firmware.md)")
    if QUICK and not petrel_test.kvm_usable():
        return "quick mode without /dev/kvm: OVMF under TCG takes minutes"
    return None


def exits_of(out):
    m = re.search(r"^\s+total\s+(\d+)", out, re.M)
    return int(m.group(1)) if m else None


def vars_writes(out):
    """petrel's --stats line of the vars flash's writes: programs, erases, bytes written (or {})."""
    m = VARS_LINE.search(out)
    return dict(zip(("programs", "erases", "written"), map(int, m.groups()))) if m else {}


def bytes_changed(before, path):
    """How many bytes of the file at path differ from `before` (its contents before a boot)."""
    after = pathlib.Path(path).read_bytes()
    return sum(a != b for a, b in zip(before, after)) + abs(len(after) - len(before))


def boot_once(vmm, argv, guest_ok, vars=None):
    """One boot; a dict of the seconds to each mark, the exits, and with a vars file the bytes it
    changed in it (petrel: also its flash's counters), or None (failed() said why)."""
    before = vars.read_bytes() if vars else None
    b = fwlib.run_timed(argv, MARKS, timeout=TIMEOUT)
    missing = [m for m in MARKS if m not in b.marks]
    if b.rc is None or missing or not guest_ok(b.rc):
        failed(f"{vmm}: boot failed (rc {b.rc}, missing {missing}, {b.seconds:.1f} s):\n{b.out[-2000:]}")
        return None
    r = {"grub": b.marks[fwlib.GRUB_MARKER], "guest": b.marks[GUEST_LINE], "exit": b.seconds,
         "exits": exits_of(b.out), **vars_writes(b.out)}
    if vars:
        r["changed"] = bytes_changed(before, vars)
    return r


def median(rows, key):
    xs = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(xs) if xs else None


def fmt(x, unit=""):
    return "?" if x is None else f"{x:.2f}{unit}" if isinstance(x, float) else f"{x}{unit}"


def count(rows, key):
    """A median of counts, as a count (a median of two may end in .5)."""
    x = median(rows, key)
    return None if x is None else round(x)


def sides(image, tmp, want_qemu, want_petrel):
    """The VMMs that boot this image: (name, argv, guest_ok, vars file or None) each."""
    efi = is_efi(image.stem)
    fw = {"firmware": "ovmf" if efi else "seabios"}
    out = []
    if want_qemu:
        accel = qemu_accel(efi)
        vars = pathlib.Path(tmp) / f"{image.stem}-qemu.vars" if efi else None
        out.append((f"QEMU ({accel})", fwlib.qemu_argv(image, accel=accel, mem=MEM, vars=vars, **fw),
                    lambda rc: fwlib.qemu_guest_status(rc) == 0, vars))
    if want_petrel:
        vars = pathlib.Path(tmp) / f"{image.stem}-petrel.vars" if efi else None
        out.append(("petrel (kvm)", petrel_argv(image, vars=vars, **fw), lambda rc: rc == 0, vars))
    return out


def bench_image(target, image, tmp, n, want_qemu, want_petrel):
    """n runs of each VMM on the image, interleaved (a drifting host weighs on both alike); an
    OVMF image boots twice a run on a fresh copy of the vars template. [(row, vmm, [dicts])]."""
    vmms = sides(image, tmp, want_qemu, want_petrel)
    boots = BOOTS if is_efi(target) else (None,)
    rows = {(boot, vmm): [] for boot in boots for vmm, _, _, _ in vmms}
    for _ in range(n):
        for vmm, argv, ok, vars in vmms:
            if vars:
                fwlib.ovmf_vars(vars)
            for boot in boots:
                r = boot_once(vmm, argv, ok, vars)
                if not r:
                    break   # a second boot after a failed first one would measure another thing
                rows[(boot, vmm)].append(r)
    return [(f"{target} ({boot} boot)" if boot else target, vmm, rows[(boot, vmm)])
            for boot in boots for vmm, _, _, _ in vmms]


def report(results):
    print()
    print("| image | VMM | to GRUB (s) | to guest output (s) | to exit (s) | exits | vars: programs / erases / "
          "bytes written | vars bytes changed | runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row, vmm, rows in results:
        writes = "-" if median(rows, "programs") is None else \
            " / ".join(fmt(count(rows, k)) for k in ("programs", "erases", "written"))
        changed = "-" if median(rows, "changed") is None else fmt(count(rows, "changed"))
        print(f"| {row} | {vmm} | {fmt(median(rows, 'grub'))} | {fmt(median(rows, 'guest'))} | "
              f"{fmt(median(rows, 'exit'))} | {fmt(count(rows, 'exits'))} | {writes} | {changed} | {len(rows)} |")
        if vmm.startswith("QEMU"):
            print(f"{row}: QEMU to GRUB {fmt(median(rows, 'grub'), ' s')}, "
                  f"to the guest {fmt(median(rows, 'guest'), ' s')}")
    by = {(t, v.split()[0]): rows for t, v, rows in results}
    for row in dict.fromkeys(t for t, _, _ in results):
        q, p = by.get((row, "QEMU")), by.get((row, "petrel"))
        if q and p:
            for key, what in (("grub", "to GRUB"), ("guest", "to the guest")):
                print(f"{row}: petrel/QEMU {what}: {median(p, key) / median(q, key):.2f}")


def main():
    missing = fwlib.missing_tools()
    if missing:
        sys.exit(f"bench/firmware.py: missing {', '.join(missing)} (scripts/setup.sh)")
    if not GUEST.exists():
        sys.exit(f"bench/firmware.py: {GUEST} is not built (ninja -C {BUILD})")
    images = pick(os.environ.get("BENCH_FW_IMAGES", "grub-iso,grub-disk,grub-efi-disk"),
                  "grub-iso,grub-efi-disk").split(",")
    n = runs("BENCH_FW_RUNS", 3)
    want_qemu = os.environ.get("BENCH_QEMU", "1") != "0"
    want_petrel = petrel_has_firmware() and petrel_test.kvm_usable()
    print(f"host: {platform.node()} ({host_kind(petrel_test.kvm_usable())}), QEMU accel {qemu_accel()} "
          f"(OVMF: {qemu_accel(True)}), {n} run(s) per row, GRUB timeout {os.environ.get('PETREL_GRUB_TIMEOUT', '1')} s")
    if not want_petrel:
        print("petrel: no rows (" + ("no /dev/kvm" if petrel_has_firmware() else
                                     f"{PETREL} run has no --firmware yet") + ")")
    no_ovmf = ovmf_unavailable()
    results = []   # (row, vmm, [dicts])
    with tempfile.TemporaryDirectory(prefix="petrel-bench-fw-") as tmp:
        for target in images:
            if is_efi(target) and no_ovmf:
                print(f"{target}: skipped: {no_ovmf}")
                continue
            image = pathlib.Path(tmp) / f"{target}.img"
            secs, _ = fwlib.mkimage(target, image, GUEST, "", fwlib.GUEST_CMDLINE)
            print(f"{target}: {image.stat().st_size / 2**20:.1f} MiB, mkimage {secs:.1f} s")
            results += bench_image(target, image, tmp, n, want_qemu, want_petrel)
    report(results)


if __name__ == "__main__":
    main()
