# SPDX-License-Identifier: Apache-2.0
"""The disk images of scripts/mkimage.sh, proved with QEMU 7.2 and Debian's SeaBIOS as the
oracle, under TCG (no KVM: seconds on every machine): SeaBIOS boots GRUB from a virtio-blk-pci
disk (the MBR disk and the hybrid ISO), GRUB prints its marker on the serial line and starts the
test guest `boot` through the 32-bit boot protocol (tests/guests/lib/head.S: startup_32), which
finds the RSDP SeaBIOS placed (GRUB passes none) and passes. Also: the disk's layout as
grub-bios-setup would leave it, the cache, and (PETREL_LINUX_EXTRA=1: it downloads Debian) the
installed Debian disk up to GRUB's menu.

Each QEMU run's time is printed (pytest -s) and bounded."""
import json
import os
import shutil
import subprocess

import pytest

import fwlib
import guestlib

pytestmark = pytest.mark.skipif(bool(fwlib.missing_tools()),
                                reason=f"missing {', '.join(fwlib.missing_tools())} (scripts/setup.sh)")

TCG_BOOT_LIMIT = 30.0   # seconds; about 2 s each here (1 s of it GRUB's timeout)


def guest(name):
    path = guestlib.build_dir() / "tests" / "guests" / f"{name}.bzimage"
    if not path.exists():
        pytest.skip(f"{path} is not built (ninja -C {guestlib.build_dir()})")
    return path


def boot_guest(image, guest_name, cpus=1):
    """SeaBIOS -> GRUB -> the guest under TCG; the guest must pass and GRUB come first."""
    ok = f"ok {guest_name}"
    b = fwlib.run_timed(fwlib.qemu_argv(image, cpus=cpus), [fwlib.GRUB_MARKER, f"{guest_name}:", ok],
                        timeout=TCG_BOOT_LIMIT)
    print(f"{image.name}: {b}")
    assert b.rc is not None, f"QEMU still running after {TCG_BOOT_LIMIT} s:\n{b.out[-3000:]}"
    assert fwlib.GRUB_MARKER in b.marks, f"no GRUB marker:\n{b.out[-3000:]}"
    assert ok in b.marks, f"the guest did not pass:\n{b.out[-3000:]}"
    assert b.marks[fwlib.GRUB_MARKER] < b.marks[ok]
    assert fwlib.qemu_guest_status(b.rc) == 0, f"QEMU exit status {b.rc}:\n{b.out[-3000:]}"
    return b


@pytest.mark.parametrize("target", ["grub-disk", "grub-iso"])
def test_grub_boots_test_guest(target, tmp_path):
    image = tmp_path / f"{target}.img"
    secs, _ = fwlib.mkimage(target, image, guest("boot"), "", fwlib.GUEST_CMDLINE)
    print(f"mkimage {target}: {secs:.2f} s, {image.stat().st_size >> 10} KiB")
    b = boot_guest(image, "boot")
    assert "boot: protocol=bzimage" in b.out and "magic=ok" in b.out
    assert "BOOT_IMAGE=/boot/kernel " + fwlib.GUEST_CMDLINE in b.out, "GRUB's command line did not arrive"
    assert "(scanned)" in b.out, "the RSDP was not found by the scan of the BIOS areas"


def test_grub_disk_smp_guest_finds_madt(tmp_path):
    """Two vCPUs: the smp guest's MADT comes through the scanned RSDP (SeaBIOS's tables)."""
    image = tmp_path / "smp.img"
    fwlib.mkimage("grub-disk", image, guest("smp"), "", "cpus=2")
    boot_guest(image, "smp", cpus=2)


def test_grub_disk_layout(tmp_path):
    """What SeaBIOS and GRUB read: one bootable partition at 1 MiB, boot.img's code in the MBR
    pointing at core.img in sector 1, whose blocklist covers the rest of it; GRUB's own file
    system code (grub-fstest) finds the kernel and grub.cfg in the partition."""
    image = tmp_path / "disk.img"
    kernel = guest("boot")
    fwlib.mkimage("grub-disk", image, kernel, "", "x=1")
    table = json.loads(subprocess.run(["sfdisk", "--json", str(image)], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]
    assert table["label"] == "dos"
    [part] = table["partitions"]
    assert part["start"] == 2048 and part.get("bootable") and part["type"] == "83"
    data = image.read_bytes()
    mbr = data[:512]
    boot_img = open("/usr/lib/grub/i386-pc/boot.img", "rb").read()
    assert mbr[510:512] == b"\x55\xaa"
    assert mbr[0x5c:0x64] == (1).to_bytes(8, "little"), "kernel_sector is not 1"
    assert mbr[0x64] == 0xff and mbr[0x66:0x68] == b"\x90\x90"
    assert mbr[0x68:0x1b8] == boot_img[0x68:0x1b8] and mbr[:0x03] == boot_img[:0x03]
    blocklist = data[1024 - 12:1024]
    start, length, segment = int.from_bytes(blocklist[:8], "little"), int.from_bytes(blocklist[8:10], "little"), \
        int.from_bytes(blocklist[10:12], "little")
    assert (start, segment) == (2, 0x820) and 1 <= length < 2046
    assert any(data[512 * (2 + length) - 512:512 * (2 + length)]), "core.img's last sector is empty"

    def fstest(*args):
        return subprocess.run(["grub-fstest", str(image), *args], capture_output=True, check=True).stdout

    assert fstest("cmp", "(loop0,msdos1)/boot/kernel", str(kernel)) == b""
    cfg = fstest("cat", "(loop0,msdos1)/boot/grub/grub.cfg").decode()
    assert f'echo "{fwlib.GRUB_MARKER}"' in cfg and "linux /boot/kernel x=1" in cfg and "initrd" not in cfg
    assert "terminal_output serial console" in cfg and "set timeout=1" in cfg
    assert "normal.mod" in fstest("ls", "(loop0,msdos1)/boot/grub/i386-pc/").decode()


def test_cache(tmp_path):
    """Same inputs: the cached image (a copy: the cache is never written through OUT); other
    inputs (a command line, an initrd): another image."""
    kernel = guest("boot")
    a, b, c, d = (tmp_path / n for n in ("a.img", "b.img", "c.img", "d.img"))
    fwlib.mkimage("grub-disk", a, kernel, "", "cache=1")
    _, log = fwlib.mkimage("grub-disk", b, kernel, "", "cache=1")
    assert "mkimage: cached" in log
    assert a.read_bytes() == b.read_bytes()
    with open(b, "r+b") as f:
        f.write(b"X")
    _, log = fwlib.mkimage("grub-disk", c, kernel, "", "cache=1")
    assert "mkimage: cached" in log and c.read_bytes() == a.read_bytes()
    _, log = fwlib.mkimage("grub-disk", d, kernel, kernel, "cache=1")
    assert "mkimage: built" in log or "mkimage: cached" in log
    assert d.read_bytes() != a.read_bytes()


def test_refuses_bad_arguments(tmp_path):
    def run(*args):
        return subprocess.run(["bash", str(fwlib.MKIMAGE), "--cache", str(tmp_path / "c"), *args],
                              capture_output=True, text=True, timeout=30)
    r = run("grub-disk", str(tmp_path / "x.img"), str(tmp_path / "nonexistent"))
    assert r.returncode != 0 and "not found" in r.stderr
    r = run("floppy", str(tmp_path / "x.img"))
    assert r.returncode != 0 and "unknown target" in r.stderr
    assert not (tmp_path / "x.img").exists()


@pytest.mark.skipif(os.environ.get("PETREL_LINUX_EXTRA") != "1",
                    reason="downloads Debian (minutes, once; then cached): the extra run, PETREL_LINUX_EXTRA=1")
def test_debian_image_reaches_grub(tmp_path):
    """The installed Debian disk: GRUB reads its kernel, initrd and configuration through
    the symlinks the kernel package keeps (grub-fstest: GRUB's ext4 code), and under QEMU
    SeaBIOS boots its GRUB to the marker (the run stops there: booting Linux is the extra
    tests' with petrel)."""
    if os.geteuid() != 0 or not shutil.which("mmdebstrap"):
        pytest.skip("needs root and mmdebstrap")
    image = tmp_path / "debian.img"
    secs, _ = fwlib.mkimage("debian", image, timeout=3600)
    print(f"mkimage debian: {secs:.1f} s, {image.stat().st_size >> 20} MiB")

    def fstest(*args):
        return subprocess.run(["grub-fstest", str(image), *args], capture_output=True, check=True).stdout

    cfg = fstest("cat", "(loop0,msdos1)/boot/grub/grub.cfg").decode()
    assert "linux /vmlinuz root=UUID=" in cfg and "initrd /initrd.img" in cfg
    assert fstest("cat", "(loop0,msdos1)/vmlinuz")[0x202:0x206] == b"HdrS"
    assert len(fstest("cat", "(loop0,msdos1)/initrd.img")) > 1 << 20
    assert b"ext4" in fstest("cat", "(loop0,msdos1)/etc/fstab")
    assert fstest("cat", "(loop0,msdos1)/etc/hostname").strip() == b"petrel-debian"
    b = fwlib.run_timed(fwlib.qemu_argv(image), [fwlib.GRUB_MARKER], timeout=60, stop_at=fwlib.GRUB_MARKER)
    print(f"debian: {b}")
    assert fwlib.GRUB_MARKER in b.marks, f"no GRUB marker:\n{b.out[-3000:]}"
