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

Beside them, the same kernel, initrd and command line through a firmware and GRUB (issue 55's
four paths on one host): SeaBIOS + GRUB for i386-pc on an MBR disk (mkimage.sh grub-disk) and
OVMF + GRUB for x86_64-efi on a GPT disk (grub-efi-disk), GRUB's menu timeout 0 (the boot
loader's work, not its wait); the third column is then the start -> GRUB's first output
("petrel-grub: menu"). OVMF cannot start on a PVM host (docs/firmware.md): its row is skipped
there, saying so. Where guest real mode and ring 0 are emulated (PVM) a firmware row takes tens
of seconds: BENCH_DISKBOOT_FW_RUNS (default 3) runs of each.

  python3 bench/diskboot.py                  BENCH_DISKBOOT_RUNS runs per row (default 20), medians
  BENCH_QUICK=1 python3 bench/diskboot.py    one run per row, a 1 MiB initrd
  BENCH_DISKBOOT_FIRMWARE=0                  without the firmware rows
Needs /dev/kvm; the qcow2 row needs qemu-img; the firmware rows GRUB's i386-pc and x86_64-efi
modules, SeaBIOS and OVMF (scripts/setup.sh).
"""
import importlib.util
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
from benchlib import failed, pick, runs  # noqa: E402

BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
GUEST = BUILD / "tests" / "guests" / "boot.bzimage"
FIRST = "boot: protocol="
CMDLINE = "petrel-test-token=1234"
DISK_MS = re.compile(r"boot from disk: .* \(([\d.]+) ms\)")
FW_TIMEOUT = float(os.environ.get("BENCH_DISKBOOT_FW_TIMEOUT", 900))   # s per firmware boot (PVM: tens)


def bench_firmware():
    """bench/firmware.py as a module (its OVMF availability check): not importable by name, as
    tests/firmware (a package on the path here) is named so too."""
    spec = importlib.util.spec_from_file_location("bench_firmware", ROOT / "bench" / "firmware.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def one(argv, firmware=False):
    """ms from the start to the guest's first output, and petrel's disk part (from_disk) or the
    start -> GRUB's first output (firmware)."""
    marks = [fwlib.GRUB_MARKER, FIRST, "ok boot"] if firmware else [FIRST, "ok boot"]
    b = fwlib.run_timed(argv, marks, timeout=FW_TIMEOUT if firmware else 60, stop_at="ok boot")
    if FIRST not in b.marks:
        failed(f"no guest output from {' '.join(map(str, argv))}:\n{b.out[-2000:]}")
        return None, None
    if firmware:
        grub = b.marks.get(fwlib.GRUB_MARKER)
        return b.marks[FIRST] * 1000, grub * 1000 if grub is not None else None
    m = DISK_MS.search(b.out)
    return b.marks[FIRST] * 1000, float(m.group(1)) if m else None


def firmware_rows(tmp, initrd):
    """The firmware rows ({name: argv}): the same kernel, initrd and command line on GRUB disks."""
    if os.environ.get("BENCH_DISKBOOT_FIRMWARE") == "0":
        return {}
    missing = fwlib.missing_tools(qemu=False)
    if missing:
        failed(f"firmware rows: skipped: missing {', '.join(missing)} (scripts/setup.sh)")
        return {}
    env = dict(os.environ, PETREL_GRUB_TIMEOUT="0")
    fwlib.mkimage("grub-disk", tmp / "grub.img", GUEST, initrd, CMDLINE, env=env)
    rows = {"SeaBIOS + GRUB (MBR+ext2)": fwlib.petrel_argv([f"{tmp / 'grub.img'},ro"], mem=256, petrel=PETREL,
                                                            extra=("--no-reboot", "--level", "Info"))}
    why = bench_firmware().ovmf_unavailable()
    if why:
        print(f"OVMF + GRUB (GPT+ESP): skipped: {why}")
        return rows
    fwlib.mkimage("grub-efi-disk", tmp / "grub-efi.img", GUEST, initrd, CMDLINE, env=env)
    # no --firmware-vars: each run on petrel's private copy of the template (a first boot each time)
    rows["OVMF + GRUB (GPT+ESP)"] = fwlib.petrel_argv([f"{tmp / 'grub-efi.img'},ro"], mem=256, petrel=PETREL,
                                                      firmware="ovmf", extra=("--no-reboot", "--level", "Info"))
    return rows


def main():
    if not PETREL.exists() or not GUEST.exists():
        sys.exit(f"bench/diskboot.py: build petrel and its test guests first ({PETREL}, {GUEST})")
    if not petrel_test.kvm_usable():
        sys.exit("bench/diskboot.py: needs /dev/kvm")
    n = runs("BENCH_DISKBOOT_RUNS", 20)
    fw_n = runs("BENCH_DISKBOOT_FW_RUNS", 3)
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
        fw = firmware_rows(tmp, initrd)
        rows.update(fw)
        got = {k: ([], []) for k in rows}
        for i in range(n):
            for name, argv in rows.items():
                if name in fw and i >= fw_n:
                    continue
                first, disk_ms = one(argv, firmware=name in fw)
                if first is not None:
                    got[name][0].append(first)
                if disk_ms is not None:
                    got[name][1].append(disk_ms)
    print(f"Boot from the disk vs a given kernel vs firmware + GRUB ({host_kind(True)} host, {n} run(s) per row, "
          f"{min(n, fw_n)} per firmware row, interleaved; the boot guest, a {mib} MiB initrd)")
    print("| row | start -> guest's first output, median (min) | petrel's disk part (read the disk, load the guest's "
          "memory), or start -> GRUB's first output, median |")
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
