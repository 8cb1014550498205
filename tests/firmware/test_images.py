# SPDX-License-Identifier: Apache-2.0
"""The disk images of scripts/mkimage.sh, proved with QEMU 7.2 and Debian's SeaBIOS or OVMF as
the oracle, under TCG (no KVM: seconds on every machine, so these are no KVM tests): SeaBIOS boots
GRUB from a virtio-blk-pci disk (the MBR disk and the hybrid ISO), GRUB prints its marker on the
serial line and starts the test guest `boot` through the 32-bit boot protocol
(tests/guests/lib/head.S: startup_32), which finds the RSDP SeaBIOS placed (GRUB passes none) and
passes. OVMF boots GRUB's EFI application from the GPT disk's EFI system partition and from the
hybrid ISO (its EFI partition as a disk, its El Torito EFI image as a CD); GRUB's `linux` there
starts the guest by the same 32-bit protocol with the EFI system table in the zero page, where
the guest finds the RSDP. Also: the disks' layouts as grub-bios-setup and a UEFI installer would
leave them, the cache, and (PETREL_LINUX_EXTRA=1: it downloads Debian) the installed Debian disks
(MBR and GPT/UEFI) up to GRUB's menu.

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
OVMF_TCG_BOOT_LIMIT = 120.0  # seconds; OVMF itself takes most of it under TCG

efi = pytest.mark.skipif(bool(fwlib.missing_efi_tools()),
                         reason=f"missing {', '.join(fwlib.missing_efi_tools())} (scripts/setup.sh)")


def guest(name):
    path = guestlib.build_dir() / "tests" / "guests" / f"{name}.bzimage"
    if not path.exists():
        pytest.skip(f"{path} is not built (ninja -C {guestlib.build_dir()})")
    return path


def partition_table(image):
    """sfdisk's reading of IMAGE's partition table (label, partitions: start, size, type...)."""
    return json.loads(subprocess.run(["sfdisk", "--json", str(image)], capture_output=True, text=True,
                                     check=True).stdout)["partitiontable"]


def fstest(image, *args):
    """grub-fstest on IMAGE (GRUB's own partition and file system code): its output."""
    return subprocess.run(["grub-fstest", str(image), *args], capture_output=True, check=True).stdout


def boot_guest(image, guest_name, cpus=1, limit=TCG_BOOT_LIMIT, **qemu):
    """The firmware (SeaBIOS, or OVMF: qemu_argv's keywords) -> GRUB -> the guest under TCG; the
    guest must pass and GRUB come first."""
    ok = f"ok {guest_name}"
    b = fwlib.run_timed(fwlib.qemu_argv(image, cpus=cpus, **qemu), [fwlib.GRUB_MARKER, f"{guest_name}:", ok],
                        timeout=limit)
    print(f"{image.name}: {b}")
    assert b.rc is not None, f"QEMU still running after {limit} s:\n{b.out[-3000:]}"
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


@efi
@pytest.mark.parametrize("target,cdrom", [("grub-efi-disk", False), ("grub-iso", False), ("grub-iso", True)],
                         ids=["grub-efi-disk", "grub-iso", "grub-iso-cd"])
def test_ovmf_grub_boots_test_guest(target, cdrom, tmp_path):
    """OVMF -> GRUB's EFI application (the removable-media path of the ESP; the ISO's EFI partition
    on a disk or its El Torito EFI image on a CD) -> the guest by the 32-bit boot protocol, its
    RSDP from the EFI system table GRUB passes; OVMF wrote variables (its pflash is writable)."""
    image = tmp_path / f"{target}.img"
    secs, _ = fwlib.mkimage(target, image, guest("boot"), "", fwlib.GUEST_CMDLINE)
    print(f"mkimage {target}: {secs:.2f} s, {image.stat().st_size >> 10} KiB")
    vars = fwlib.ovmf_vars(tmp_path / "vars.fd")
    b = boot_guest(image, "boot", limit=OVMF_TCG_BOOT_LIMIT, firmware="ovmf", vars=vars, cdrom=cdrom)
    assert "boot: protocol=bzimage" in b.out and "magic=ok" in b.out
    assert "BOOT_IMAGE=/boot/kernel " + fwlib.GUEST_CMDLINE in b.out, "GRUB's command line did not arrive"
    assert "boot: efi system table at" in b.out, "no EFI system table in the zero page"
    assert "(efi)" in b.out, "the RSDP was not found through the EFI system table"
    assert vars.read_bytes() != fwlib.OVMF_VARS.read_bytes(), "OVMF wrote no variable"


def test_grub_disk_smp_guest_finds_madt(tmp_path):
    """Two vCPUs: the smp guest's MADT comes through the scanned RSDP (SeaBIOS's tables)."""
    image = tmp_path / "smp.img"
    fwlib.mkimage("grub-disk", image, guest("smp"), "", "cpus=2")
    boot_guest(image, "smp", cpus=2)


def one_partition_image(target, label, tmp_path):
    """mkimage.sh TARGET with the boot guest and "x=1": the image, the kernel and its one
    partition, at 1 MiB of a LABEL ("dos", "gpt") partition table."""
    image = tmp_path / f"{target}.img"
    kernel = guest("boot")
    fwlib.mkimage(target, image, kernel, "", "x=1")
    table = partition_table(image)
    assert table["label"] == label
    [part] = table["partitions"]
    assert part["start"] == 2048
    return image, kernel, part


def assert_boot_files(image, root, kernel, platform):
    """What GRUB's own file system code (grub-fstest) finds in the partition ROOT: the kernel,
    grub.cfg of one_partition_image's arguments, the empty grubenv, PLATFORM's modules."""
    assert fstest(image, "cmp", f"{root}/boot/kernel", str(kernel)) == b""
    cfg = fstest(image, "cat", f"{root}/boot/grub/grub.cfg").decode()
    assert f'echo "{fwlib.GRUB_MARKER}"' in cfg and "linux /boot/kernel x=1" in cfg and "initrd" not in cfg
    assert "terminal_output serial console" in cfg and "set timeout=1" in cfg
    assert len(fstest(image, "cat", f"{root}/boot/grub/grubenv")) == 1024
    assert "normal.mod" in fstest(image, "ls", f"{root}/boot/grub/{platform}/").decode()


def test_grub_disk_layout(tmp_path):
    """What SeaBIOS and GRUB read: one bootable partition at 1 MiB, boot.img's code in the MBR
    pointing at core.img in sector 1, whose blocklist covers the rest of it; GRUB's own file
    system code (grub-fstest) finds the kernel and grub.cfg in the partition."""
    image, kernel, part = one_partition_image("grub-disk", "dos", tmp_path)
    assert part.get("bootable") and part["type"] == "83"
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
    assert_boot_files(image, "(loop0,msdos1)", kernel, "i386-pc")


@efi
def test_grub_efi_disk_layout(tmp_path):
    """What OVMF and GRUB read: a GPT (both copies) with one EFI system partition at 1 MiB, FAT32,
    holding GRUB's x86_64 EFI application at the removable-media path; GRUB's own code
    (grub-fstest) finds the kernel, grub.cfg and the x86_64-efi modules there."""
    image, kernel, part = one_partition_image("grub-efi-disk", "gpt", tmp_path)
    assert part["type"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
    data = image.read_bytes()
    assert data[510:512] == b"\x55\xaa" and data[0x1c2] == 0xee, "no protective MBR"
    assert data[512:520] == b"EFI PART" and data[-512:-504] == b"EFI PART", "no primary and backup GPT header"
    esp = data[2048 * 512:]
    assert esp[82:90] == b"FAT32   ", "the ESP is not FAT32"
    assert int.from_bytes(esp[28:32], "little") == 2048, "FAT hidden sectors are not the partition's start"

    app = fstest(image, "cat", "(loop0,gpt1)/EFI/BOOT/BOOTX64.EFI")
    pe = int.from_bytes(app[0x3c:0x40], "little")
    assert app[:2] == b"MZ" and app[pe:pe + 6] == b"PE\0\0\x64\x86", "BOOTX64.EFI is not an x86-64 PE image"
    assert_boot_files(image, "(loop0,gpt1)", kernel, "x86_64-efi")


@efi
def test_grub_iso_has_efi_image(tmp_path):
    """The hybrid ISO boots by UEFI too: an El Torito entry for the UEFI platform and an EFI
    system partition in its partition table, both the FAT image holding BOOTX64.EFI."""
    image = tmp_path / "iso.img"
    fwlib.mkimage("grub-iso", image, guest("boot"), "", "x=1")
    report = subprocess.run(["xorriso", "-indev", str(image), "-report_el_torito", "plain"], capture_output=True,
                            text=True, check=True).stdout
    assert any(" UEFI " in line for line in report.splitlines() if line.startswith("El Torito boot img")), report
    assert any(" BIOS " in line for line in report.splitlines() if line.startswith("El Torito boot img")), report
    table = partition_table(image)
    esps = [p for p in table["partitions"] if p["type"].upper() in ("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EF")]
    assert len(esps) == 1, table
    fat = image.read_bytes()[esps[0]["start"] * 512:(esps[0]["start"] + esps[0]["size"]) * 512]
    assert b"BOOTX64 EFI" in fat, "no EFI/BOOT/BOOTX64.EFI in the EFI image"


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
@pytest.mark.parametrize("uefi", [False, True], ids=["bios", "efi"])
def test_debian_image_reaches_grub(uefi, tmp_path):
    """The installed Debian disk (MBR; --efi: GPT with an EFI system partition): GRUB reads its
    kernel, initrd and configuration through the symlinks the kernel package keeps (grub-fstest:
    GRUB's ext4 code), and under QEMU SeaBIOS or OVMF boots its GRUB to the marker (the run stops
    there: booting Linux is the extra tests' with petrel)."""
    if os.geteuid() != 0 or not shutil.which("mmdebstrap"):
        pytest.skip("needs root and mmdebstrap")
    if uefi and fwlib.missing_efi_tools():
        pytest.skip(f"missing {', '.join(fwlib.missing_efi_tools())} (scripts/setup.sh)")
    image = tmp_path / "debian.img"
    secs, _ = fwlib.mkimage("debian", image, timeout=3600, opts=["--efi"] * uefi)
    print(f"mkimage debian{' --efi' * uefi}: {secs:.1f} s, {image.stat().st_size >> 20} MiB")

    root = "(loop0,gpt2)" if uefi else "(loop0,msdos1)"
    cfg = fstest(image, "cat", f"{root}/boot/grub/grub.cfg").decode()
    assert "linux /vmlinuz root=UUID=" in cfg and "initrd /initrd.img" in cfg
    assert fstest(image, "cat", f"{root}/vmlinuz")[0x202:0x206] == b"HdrS"
    assert len(fstest(image, "cat", f"{root}/initrd.img")) > 1 << 20
    fstab = fstest(image, "cat", f"{root}/etc/fstab")
    assert b"ext4" in fstab
    assert fstest(image, "cat", f"{root}/etc/hostname").strip() == b"petrel-debian"
    qemu = {}
    if uefi:
        assert b" /boot/efi vfat " in fstab
        for app in ("EFI/BOOT/BOOTX64.EFI", "EFI/debian/grubx64.efi"):
            assert fstest(image, "cat", f"(loop0,gpt1)/{app}")[:2] == b"MZ"
        assert "normal.mod" in fstest(image, "ls", f"{root}/boot/grub/x86_64-efi/").decode()
        assert b"efibootmgr" in fstest(image, "cat", f"{root}/var/lib/dpkg/status")
        qemu = {"firmware": "ovmf", "vars": fwlib.ovmf_vars(tmp_path / "vars.fd")}
    b = fwlib.run_timed(fwlib.qemu_argv(image, **qemu), [fwlib.GRUB_MARKER], timeout=120 if uefi else 60,
                        stop_at=fwlib.GRUB_MARKER)
    print(f"debian: {b}")
    assert fwlib.GRUB_MARKER in b.marks, f"no GRUB marker:\n{b.out[-3000:]}"
