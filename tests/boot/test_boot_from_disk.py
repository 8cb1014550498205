# SPDX-License-Identifier: Apache-2.0
"""A boot from the disk (boot-source.from_disk, docs/images.md#booting-from-the-disk): petrel reads
the kernel, initrd and command line off the VM's boot disk (its partition table, its ext2/3/4
file system through libext2fs, grub.cfg's default entry or Debian's /vmlinuz links) in the VMM,
with its seccomp filters on, and boots them directly.

The disks are scripts/mkimage.sh's direct-disk ones (MBR, GPT and none; ext2, ext3, ext4; grub.cfg,
the links only, a separate /boot found by `search --fs-uuid`) with a project test guest as their
kernel; one is a qcow2 overlay. boot_args are appended to the entry's; grubenv's saved_entry picks
the entry; a reset reads the disk again (a grub.cfg changed meanwhile boots its new entry); the API
takes it; hostile disks end in a clear error, from the CLI (the VMM exits) and the API (400), and
the VMM serves on."""
import os
import re
import shutil
import subprocess

import pytest

import apilib
import fwlib
import guestlib
import petrel_test

TOKEN = "petrel-test-token=1234"
LOG_LINE = re.compile(r"boot from disk: drive (\S+) partition (\d+) \((ext\d)\): (\S+)(?: initrd (\S+))? "
                      r"entry '([^']*)' cmdline '([^']*)' \(([\d.]+) ms\)")


@pytest.fixture
def kernel():
    petrel_test.require_kvm()
    missing = [t for t in ("sfdisk", "mkfs.ext2", "debugfs") if not shutil.which(t)]
    if missing:
        pytest.skip("missing " + ", ".join(missing))
    return guestlib.require("boot", "bzimage")


def direct_disk(out, layout, kernel, initrd="", cmdline="", grub_cfg=None):
    opts = ["--grub-cfg", grub_cfg] if grub_cfg else []
    fwlib.mkimage("direct-disk", out, layout, kernel, initrd, cmdline, opts=opts)
    return out


def run_from_disk(disk, cmdline=None, extra=(), timeout=60):
    argv = [str(guestlib.petrel_bin()), "run", "--from-disk", "--disk", str(disk), "--debug-exit", "--level", "Info"]
    if cmdline is not None:
        argv += ["--cmdline", cmdline]
    return subprocess.run(argv + list(extra), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def booted(r):
    assert r.returncode == 0 and re.search(r"^ok boot$", r.stdout, re.M), f"{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    m = LOG_LINE.search(r.stderr)
    assert m, r.stderr[-3000:]
    return m


@pytest.mark.parametrize("layout, part, fs, path", [
    ("mbr-ext2", "1", "ext2", "/boot/kernel"),
    ("mbr-ext3", "1", "ext3", "/boot/kernel"),
    ("mbr-ext4", "1", "ext4", "/boot/kernel"),
    ("gpt-ext4", "1", "ext4", "/boot/kernel"),
    ("bare-ext4", "0", "ext4", "/boot/kernel"),
    ("gpt-ext4-bootpart", "2", "ext2", "/kernel"),   # grub.cfg's search --fs-uuid finds /boot
])
def test_grub_cfg_entry_boots(tmp_path, kernel, layout, part, fs, path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(os.urandom(5000))
    disk = direct_disk(tmp_path / "d.img", layout, kernel, initrd, f"{TOKEN} expect_boot=bzimage")
    m = booted(run_from_disk(disk))
    assert m.group(1, 2, 3, 4, 6) == ("drive0", part, fs, path, "petrel")
    assert m.group(5) == ("/initrd" if layout.endswith("bootpart") else "/boot/initrd")
    assert m.group(7).startswith(f"{TOKEN} expect_boot=bzimage")


@pytest.mark.parametrize("layout, root", [("mbr-ext4-links", "root=PARTUUID=70657472-01"),
                                          ("gpt-ext2-links", "root=PARTUUID=7e7e0001-5e7a-4c1d-9b00-0000000000d4"),
                                          ("bare-ext4-links", "root=UUID=7e7e0001-5e7a-4c1d-9b00-0000000000d1")])
def test_vmlinuz_links_boot_and_boot_args_are_appended(tmp_path, kernel, layout, root):
    """No grub.cfg: Debian's /vmlinuz (a link into /boot) is the kernel; the command line names
    the root, and boot_args come after it."""
    disk = direct_disk(tmp_path / "d.img", layout, guestlib.require("boot", "elf"))
    r = run_from_disk(disk, cmdline=f"{TOKEN} expect_boot=pvh")
    m = booted(r)
    assert m.group(4, 5, 6) == ("/vmlinuz", None, "(no grub.cfg)")
    assert f'boot: cmdline="{root} ro console=ttyS0 {TOKEN} expect_boot=pvh' in r.stdout


def test_qcow2_overlay_and_grubenv_saved_entry(tmp_path, kernel):
    """grub-mkconfig's GRUB_DEFAULT=saved: grubenv's saved_entry picks the entry; the disk is a
    qcow2 overlay of the image, read through petrel's qcow2 layer."""
    cfg = tmp_path / "grub.cfg"
    cfg.write_text('if [ -s $prefix/grubenv ]; then\n  load_env\nfi\nset default="${saved_entry}"\n'
                   "menuentry 'first' --id one {\n\tlinux /boot/kernel first=1\n}\n"
                   "submenu 'more' --id more {\n"
                   f"\tmenuentry 'second' --id two {{\n\t\tlinux /boot/kernel {TOKEN} second=1\n\t}}\n}}\n")
    raw = direct_disk(tmp_path / "d.img", "mbr-ext4", kernel, grub_cfg=cfg)
    env = tmp_path / "grubenv"
    head = b"# GRUB Environment Block\nsaved_entry=more>two\n"
    env.write_bytes(head + b"#" * (1024 - len(head)))
    subprocess.run(["debugfs", "-w", "-R", f"write {env} /boot/grub/grubenv.new", f"{raw}?offset=1048576"],
                   check=True, capture_output=True)
    subprocess.run(["debugfs", "-w", "-R", "rm /boot/grub/grubenv", f"{raw}?offset=1048576"], check=True,
                   capture_output=True)
    subprocess.run(["debugfs", "-w", "-R", "ln /boot/grub/grubenv.new /boot/grub/grubenv", f"{raw}?offset=1048576"],
                   check=True, capture_output=True)
    if not shutil.which("qemu-img"):
        pytest.skip("qemu-img not installed")
    overlay = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "d.img", "-F", "raw", str(overlay)], check=True,
                   cwd=tmp_path)
    r = run_from_disk(overlay)
    m = booted(r)
    assert m.group(6) == "more>second"
    assert f'boot: cmdline="{TOKEN} second=1' in r.stdout


def test_a_reset_reads_the_disk_again(tmp_path, kernel):
    """The reboot guest holds; meanwhile grub.cfg on the disk changes (as update-grub after a
    kernel update inside the guest); its reset boots the new entry."""
    cfg = tmp_path / "grub.cfg"
    cfg.write_text("menuentry 'old' {\n\tlinux /boot/kernel resets=0 hold=1 mark=old\n}\n")
    disk = direct_disk(tmp_path / "d.img", "mbr-ext4", guestlib.require("reboot", "elf"), grub_cfg=cfg)
    argv = [str(guestlib.petrel_bin()), "run", "--from-disk", "--disk", str(disk), "--debug-exit", "--level", "Info"]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = b""
        while b"reboot: holding" not in out:
            chunk = p.stdout.read1(4096)
            assert chunk, out.decode(errors="replace") + p.stderr.read().decode(errors="replace")
            out += chunk
        new = tmp_path / "new.cfg"
        new.write_text("menuentry 'new' {\n\tlinux /boot/kernel resets=0 mark=new\n}\n")
        for cmd in ("rm /boot/grub/grub.cfg", f"write {new} /boot/grub/grub.cfg"):
            subprocess.run(["debugfs", "-w", "-R", cmd, f"{disk}?offset=1048576"], check=True, capture_output=True)
        p.stdin.write(b"x")
        p.stdin.flush()
        rest, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out = (out + rest).decode(errors="replace").replace("\r", "")
    err = err.decode(errors="replace")
    assert p.returncode == 0 and re.search(r"^ok reboot$", out, re.M), out + err
    assert 'reboot: cmdline "resets=0 hold=1 mark=old' in out and 'reboot: cmdline "resets=0 mark=new' in out, out
    entries = [m.group(6) for m in LOG_LINE.finditer(err)]
    assert entries == ["old", "new"], err


def test_the_api_takes_it(tmp_path, kernel):
    disk = direct_disk(tmp_path / "d.img", "gpt-ext4", kernel, "", f"{TOKEN} expect_boot=bzimage")
    p = apilib.Petrel(tmp_path, level="Info")
    try:
        c = p.client()
        r = c.put("/boot-source", {"from_disk": True, "kernel_image_path": str(kernel)}, check=False)
        assert r.status == 400 and "from_disk and kernel_image_path exclude each other" in r.fault, r
        assert c.put("/boot-source", {"from_disk": True, "boot_args": "extra=1"}, check=False).status == 204
        r = c.put("/actions", {"action_type": "InstanceStart"}, check=False)
        assert r.status == 400 and "boot-source.from_disk: the VM has no drive to boot from" in r.fault, r
        assert c.put("/drives/root", {"drive_id": "root", "path_on_host": str(disk), "is_root_device": True,
                                      "is_read_only": True}).status == 204
        bs = c.get("/vm/config", check=False).json["boot-source"]
        assert bs["from_disk"] is True and bs["boot_args"] == "extra=1" and "kernel_image_path" not in bs
        assert c.put("/actions", {"action_type": "InstanceStart"}, check=False).status == 204
        assert p.wait() == 0, p.describe()
        assert "ok boot" in p.out.text()
        assert f'boot: cmdline="{TOKEN} expect_boot=bzimage extra=1' in p.out.text()
    finally:
        p.close()


def _no_boot(disk, tmp):
    subprocess.run(["debugfs", "-w", "-R", "rm /boot/grub/grub.cfg", f"{disk}?offset=1048576"], check=True,
                   capture_output=True)


def _long_line(disk, tmp):
    cfg = tmp / "long.cfg"
    cfg.write_text("menuentry x {\n linux /boot/kernel " + "x" * 9000 + "\n}\n")
    for cmd in ("rm /boot/grub/grub.cfg", f"write {cfg} /boot/grub/grub.cfg"):
        subprocess.run(["debugfs", "-w", "-R", cmd, f"{disk}?offset=1048576"], check=True, capture_output=True)


def _link_loop(disk, tmp):
    for cmd in ("rm /boot/grub/grub.cfg", "symlink /vmlinuz /vmlinuz"):
        subprocess.run(["debugfs", "-w", "-R", cmd, f"{disk}?offset=1048576"], check=True, capture_output=True)


def _block_beyond(disk, tmp):
    subprocess.run(["debugfs", "-w", "-R", "sif /boot/kernel block[1] 4000000000", f"{disk}?offset=1048576"], check=True,
                   capture_output=True)


def _huge_extent(disk, tmp):
    """ext4: the kernel's first extent made 32768 blocks long, starting two blocks before the
    file system's end (written into its inode's i_block, where the extent tree's root is)."""
    fs = f"{disk}?offset=1048576"
    stats = subprocess.run(["debugfs", "-R", "stats", fs], check=True, capture_output=True, text=True).stdout
    bs = int(re.search(r"Block size:\s+(\d+)", stats).group(1))
    count = int(re.search(r"Block count:\s+(\d+)", stats).group(1))
    imap = subprocess.run(["debugfs", "-R", "imap /boot/kernel", fs], check=True, capture_output=True, text=True).stdout
    m = re.search(r"located at block (\d+), offset (0x[0-9a-f]+)", imap)
    at = (1 << 20) + int(m.group(1)) * bs + int(m.group(2), 16) + 40   # i_block
    with open(disk, "r+b") as f:
        f.seek(at)
        assert f.read(2) == b"\x0a\xf3", "no extent header in the inode"
        f.seek(at + 12 + 4)   # the first extent: ee_block, then ee_len, ee_start_hi, ee_start_lo
        f.write((32768).to_bytes(2, "little") + bytes(2) + (count - 2).to_bytes(4, "little"))


def _huge_size(disk, tmp):
    subprocess.run(["debugfs", "-w", "-R", "sif /boot/kernel size 0x7fffffff", f"{disk}?offset=1048576"], check=True,
                   capture_output=True)


def _truncated(disk, tmp):
    os.truncate(disk, (1 << 20) + 96 * 1024)


def _gpt_crc(disk, tmp):
    with open(disk, "r+b") as f:   # both GPT headers' CRC fields
        for off in (512 + 16, os.path.getsize(disk) - 512 + 16):
            f.seek(off)
            f.write(b"\xde\xad\xbe\xef")


def _xfs(disk, tmp):
    with open(disk, "r+b") as f:
        f.seek(1 << 20)
        f.write(b"XFSB" + bytes(4096))


@pytest.mark.parametrize("layout, damage, words", [
    ("mbr-ext4", _no_boot, "no /boot/grub/grub.cfg, /grub/grub.cfg, /vmlinuz or /boot/vmlinuz"),
    ("mbr-ext4", _long_line, "grub.cfg line 2: longer than 8192 bytes"),
    ("mbr-ext4", _link_loop, "/vmlinuz: more than 8 symbolic links deep"),
    ("mbr-ext2", _block_beyond, "/boot/kernel: its blocks lie beyond the file system's end"),
    ("mbr-ext4", _huge_extent, "/boot/kernel: its blocks lie beyond the file system's end"),
    ("mbr-ext4", _huge_size, "/boot/kernel: 2147483647 bytes, more than the 134217728 allowed"),
    ("mbr-ext4", _truncated, "partition 1"),
    ("gpt-ext4", _gpt_crc, "gpt: GPT header at sector 1: CRC"),
    ("mbr-ext4", _xfs, "partition 1 (xfs): not a file system petrel reads (ext2/3/4)"),
], ids=["no-boot", "long-line", "link-loop", "block-beyond", "huge-extent", "huge-size", "truncated", "gpt-crc", "xfs"])
def test_hostile_disks_are_refused_clearly(tmp_path, kernel, layout, damage, words):
    disk = direct_disk(tmp_path / "d.img", layout, kernel, "", f"{TOKEN}")
    damage(disk, tmp_path)
    r = run_from_disk(disk, timeout=30)
    assert r.returncode != 0 and "ok boot" not in r.stdout, r.stdout + r.stderr
    assert "boot from disk: drive drive0: " in r.stderr and words in r.stderr, r.stderr[-3000:]
    # The API's answer is the same reason, and the VMM serves on (a good disk then boots).
    p = apilib.Petrel(tmp_path, level="Info")
    try:
        c = p.client()
        c.put("/boot-source", {"from_disk": True})
        c.put("/drives/root", {"drive_id": "root", "path_on_host": str(disk), "is_root_device": True,
                               "is_read_only": True})
        r = c.put("/actions", {"action_type": "InstanceStart"}, check=False)
        assert r.status == 400 and words in r.fault, r
        good = direct_disk(tmp_path / "good.img", "mbr-ext4", kernel, "", f"{TOKEN}")
        c.put("/drives/root", {"drive_id": "root", "path_on_host": str(good), "is_root_device": True,
                               "is_read_only": True})
        assert c.put("/actions", {"action_type": "InstanceStart"}, check=False).status == 204
        assert p.wait() == 0 and "ok boot" in p.out.text(), p.describe()
    finally:
        p.close()


def test_a_restored_vm_reads_its_disk_at_its_reset(tmp_path, kernel):
    """A from_disk VM snapshotted while its guest holds, restored into a fresh petrel: its reset
    there reads the disk (changed meanwhile) through the restored VM's own drive."""
    from test_api_snapshot import load, snapshot
    cfg = tmp_path / "grub.cfg"
    cfg.write_text("menuentry 'old' {\n\tlinux /boot/kernel resets=0 hold=1 mark=old\n}\n")
    disk = direct_disk(tmp_path / "d.img", "gpt-ext4", guestlib.require("reboot", "elf"), grub_cfg=cfg)
    first = tmp_path / "first"
    first.mkdir()
    p = apilib.Petrel(first, level="Info")
    try:
        c = p.client()
        assert c.put("/boot-source", {"from_disk": True}, check=False).status == 204
        assert c.put("/drives/root", {"drive_id": "root", "path_on_host": str(disk), "is_root_device": True,
                                      "is_read_only": False}).status == 204
        assert c.put("/actions", {"action_type": "InstanceStart"}).status == 204
        p.expect(r"^reboot: holding$")
        state, mem = snapshot(c, tmp_path)
    finally:
        p.close()
    new = tmp_path / "new.cfg"
    new.write_text("menuentry 'new' {\n\tlinux /boot/kernel resets=0 mark=new\n}\n")
    for cmd in ("rm /boot/grub/grub.cfg", f"write {new} /boot/grub/grub.cfg"):
        subprocess.run(["debugfs", "-w", "-R", cmd, f"{disk}?offset=1048576"], check=True, capture_output=True)
    p2 = load(tmp_path, "second", state, mem)
    try:
        assert p2.client().get("/vm/config", check=False).json["boot-source"]["from_disk"] is True
        p2.proc.stdin.write(b"x")
        p2.proc.stdin.flush()
        p2.expect(r"^ok reboot$")
        assert p2.wait() == 0, p2.describe()
        assert 'reboot: cmdline "resets=0 mark=new' in p2.out.text(), p2.describe()
        assert [m.group(6) for m in LOG_LINE.finditer(p2.err.text())] == ["new"], p2.describe()
    finally:
        p2.close()
