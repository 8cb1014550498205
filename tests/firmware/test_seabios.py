# SPDX-License-Identifier: Apache-2.0
"""Firmware boot with petrel under KVM (issue 52, docs/firmware.md): Debian's SeaBIOS boots GRUB
from the disks of scripts/mkimage.sh on virtio-blk-pci, GRUB boots a test guest through the
32-bit boot protocol. What tests/firmware/test_images.py proves with QEMU as the oracle, here
with petrel: a reset goes through the firmware again (GRUB twice, the reset counted) with two
vCPUs; the boot order of two disks (boot indexes, else the firmware's own order), one of them a
hybrid ISO; GRUB changing its next boot through its environment block (grubenv: save_env on the
writable disk, as grub-reboot); a VM sitting at GRUB's menu snapshotted and restored, and
migrated, then Enter on the console boots it; a bad firmware, a virtio-mmio disk and a boot
source with both a firmware and a kernel refused clearly.

Each firmware boot to the guest takes 35-55 s on a PVM host (real mode and SeaBIOS emulated
there): the tests are few and each checks what one run shows."""
import json
import os
import re
import subprocess

import pytest

import apilib
import fwlib
import guestlib
from test_api_migration import destination, wait_exit, wait_state
from test_api_snapshot import load, snapshot

pytestmark = [pytest.mark.needs_kvm,
              pytest.mark.skipif(bool(fwlib.missing_tools(qemu=False)),
                                 reason=f"missing {', '.join(fwlib.missing_tools(qemu=False))} (scripts/setup.sh)")]

BOOT_LIMIT = 300.0       # s for one VM run, resets included (a firmware pass: 35-55 s on PVM)
SEABIOS_BANNER = "SeaBIOS (version"
GRUB_MENU = re.compile(r"executed automatically in (\d+)s")   # GRUB's menu, drawn with its countdown


def guest(name):
    path = guestlib.build_dir() / "tests" / "guests" / f"{name}.bzimage"
    if not path.exists():
        pytest.skip(f"{path} is not built (ninja -C {guestlib.build_dir()})")
    return path


def run(disks, markers=(), cpus=1, extra=()):
    """One petrel run to its end (the guest's debug-exit); its console and log (stderr) in b.out."""
    b = fwlib.run_timed(fwlib.petrel_argv(disks, cpus=cpus, extra=("--level", "Info", *extra)),
                        [fwlib.GRUB_MARKER, *markers], timeout=BOOT_LIMIT)
    print(f"{' '.join(map(str, disks))}: {b}")
    assert b.rc is not None, f"petrel still running after {BOOT_LIMIT} s:\n{b.out[-3000:]}"
    return b


def plain(text):
    """The console without GRUB's terminal escapes and carriage returns."""
    return re.sub(r"\x1b(\[[0-9;?]*[A-Za-z]|c)", "\n", text).replace("\r", "")


def reboot_lines(out, what):
    return re.findall(rf"^reboot: {what} (.*)$", plain(out), re.M)


def test_reset_goes_through_the_firmware_again(workdir):
    """Two vCPUs, the reboot guest resets once through the FADT's reset register: the whole way
    (SeaBIOS, GRUB's marker, the guest) is seen twice, the image's kernel loaded again by GRUB,
    and the reset is counted (the event monitor's `reset`)."""
    image, ev = workdir / "reboot.img", workdir / "events.jsonl"
    fwlib.mkimage("grub-disk", image, guest("reboot"), "", "resets=1 mode=acpi bss=0")
    b = run([f"{image},ro"], ["ok reboot"], cpus=2, extra=("--event-monitor", ev))
    assert b.rc == 0 and "ok reboot" in b.out, b.out[-3000:]
    assert reboot_lines(b.out, "boot") == ["0", "1"], b.out[-3000:]
    assert reboot_lines(b.out, "cmdline") == ['"BOOT_IMAGE=/boot/kernel resets=1 mode=acpi bss=0"'] * 2
    first, _, second = b.out.partition("reboot: reset by acpi")
    assert second, b.out[-3000:]
    for part in (first, second):   # each boot: the firmware, then GRUB, then the guest
        assert SEABIOS_BANNER in part and fwlib.GRUB_MARKER in part, b.out[-3000:]
        assert part.index(SEABIOS_BANNER) < part.index(fwlib.GRUB_MARKER) < part.index("reboot: boot")
    assert b.out.count(SEABIOS_BANNER) == 2
    events = [json.loads(line) for line in ev.read_text().splitlines()]
    resets = [e["properties"] for e in events if e["event"] == "reset"]
    assert len(resets) == 1 and resets[0]["count"] == 1, events
    assert "ACPI reset register" in resets[0]["message"], resets
    booting = [e["properties"] for e in events if e["event"] == "booting"]
    assert booting == [{"vcpus": 2, "mem_size_mib": 256, "kernel": None, "firmware": "seabios"}], events


def test_boot_order_and_a_hybrid_iso(workdir):
    """Two disks whose GRUBs boot the boot guest with different command lines: the one with
    boot=0 boots, though it is the second (a grub-mkrescue hybrid ISO, booted as a disk); without
    boot indexes the firmware's own order (the first disk on the PCI bus) decides."""
    disk, iso = workdir / "disk.img", workdir / "iso.img"
    fwlib.mkimage("grub-disk", disk, guest("boot"), "", fwlib.GUEST_CMDLINE + " disk=mbr")
    fwlib.mkimage("grub-iso", iso, guest("boot"), "", fwlib.GUEST_CMDLINE + " disk=iso")

    for disks, want in (([f"{disk},ro,boot=1", f"{iso},ro,boot=0"], "iso"), ([f"{disk},ro", f"{iso},ro"], "mbr")):
        b = run(disks, ["ok boot"])
        assert b.rc == 0 and "ok boot" in b.out, b.out[-3000:]
        assert fwlib.GRUB_MARKER in b.out and b.marks[fwlib.GRUB_MARKER] < b.marks["ok boot"]
        cmdline = re.findall(r'boot: cmdline="([^"]*)"', b.out)
        assert cmdline == [f"BOOT_IMAGE=/boot/kernel {fwlib.GUEST_CMDLINE} disk={want}"], b.out[-3000:]
        assert "(scanned)" in b.out, "the RSDP SeaBIOS placed was not found"


GRUBENV_CFG = f"""\
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
load_env
if [ -n "${{petrel_next}}" ]; then set default="${{petrel_next}}"; else set default=0; fi
echo "{fwlib.GRUB_MARKER}"
menuentry "A" {{
	set petrel_next=1
	save_env petrel_next
	echo "petrel-grub: entry A"
	linux /boot/kernel resets=3 mode=triple bss=0 entry=A
}}
menuentry "B" {{
	echo "petrel-grub: entry B"
	linux /boot/kernel resets=0 bss=0 entry=B
}}
"""


def test_grub_environment_changes_the_next_boot(workdir):
    """GRUB's entry A saves petrel_next=1 in /boot/grub/grubenv (save_env: GRUB writes the disk
    through SeaBIOS's virtio-blk driver) and boots the reboot guest, which resets by a triple
    fault; after the reset GRUB reads the saved environment and boots entry B, whose command
    line (resets=0) lets the guest pass at its second boot (entry A's would reset it 3 times)."""
    cfg, image = workdir / "grub.cfg", workdir / "env.img"
    cfg.write_text(GRUBENV_CFG)
    fwlib.mkimage("grub-disk", image, guest("reboot"), opts=("--grub-cfg", cfg))
    b = run([image], ["ok reboot"])    # writable: GRUB saves its environment there
    assert b.rc == 0 and "ok reboot" in b.out, b.out[-3000:]
    assert reboot_lines(b.out, "boot") == ["0", "1"], b.out[-3000:]
    assert reboot_lines(b.out, "cmdline") == ['"BOOT_IMAGE=/boot/kernel resets=3 mode=triple bss=0 entry=A"',
                                              '"BOOT_IMAGE=/boot/kernel resets=0 bss=0 entry=B"'], b.out[-3000:]
    out = plain(b.out)
    assert out.index("petrel-grub: entry A") < out.index("reboot: reset by triple") < out.index("petrel-grub: entry B")
    assert b.out.count(SEABIOS_BANNER) == 2
    env = subprocess.run(["grub-fstest", str(image), "cat", "(loop0,msdos1)/boot/grub/grubenv"],
                         capture_output=True, check=True).stdout
    assert len(env) == 1024 and env.startswith(b"# GRUB Environment Block\npetrel_next=1\n#"), env[:80]


def at_grub_menu(workdir):
    """A petrel (API) booting the boot guest's disk through SeaBIOS, GRUB waiting an hour at
    its menu; returns it once the menu is drawn."""
    image = workdir / "menu.img"
    fwlib.mkimage("grub-disk", image, guest("boot"), "", fwlib.GUEST_CMDLINE,
                  env=dict(os.environ, PETREL_GRUB_TIMEOUT="3600"))
    return start_at_grub_menu(workdir, image, {"firmware": "seabios"}, BOOT_LIMIT)


def start_at_grub_menu(workdir, image, boot_source, limit):
    """A petrel (API) booting image (boot index 0) through boot_source's firmware; returns it
    once GRUB's menu is drawn."""
    d = workdir / "first"
    d.mkdir()
    p = apilib.Petrel(d)
    api = p.client()
    for url, body in (("/boot-source", boot_source),
                      ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}),
                      ("/drives/disk", {"drive_id": "disk", "path_on_host": str(image), "is_root_device": False,
                                        "is_read_only": True, "boot_index": 0}),
                      ("/actions", {"action_type": "InstanceStart"})):
        r = api.put(url, body, check=False)
        assert r.status == 204, (url, r, p.describe())
    p.expect(GRUB_MENU.pattern, timeout=limit)
    return p, api


def press_enter_and_pass(p, name):
    """Enter on the console: GRUB boots its entry and the guest passes, with no firmware pass
    before (the VM went on from the menu where it was saved)."""
    before = len(p.out.text())
    p.proc.stdin.write(b"\r")
    p.proc.stdin.flush()
    p.expect(r"ok boot", timeout=BOOT_LIMIT)
    assert p.wait() == 0, p.describe()
    out = p.out.text()[before:]
    assert f'BOOT_IMAGE=/boot/kernel {fwlib.GUEST_CMDLINE}"' in out, f"{name}:\n{p.describe()}"
    assert SEABIOS_BANNER not in p.out.text() and fwlib.GRUB_MARKER not in p.out.text(), f"{name}:\n{p.describe()}"


def restore_and_migrate(workdir, state, mem, on_target):
    """The saved VM restored and `on_target(petrel, "restored")` run on it; restored again as a
    source and migrated live to a new petrel, and `on_target(it, "migrated")` run there."""
    restored = load(workdir, "restored", state, mem)
    try:
        assert restored.client().get("/").json["state"] == "Running"
        on_target(restored, "restored")
    finally:
        restored.close()

    src = load(workdir, "source", state, mem)
    dst = destination(workdir)
    try:
        url = f"unix:{workdir / 'mig.sock'}"
        dapi = dst.client()
        assert dapi.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        r = src.client().put("/migration/send", {"destination_url": url}, check=False)
        assert r.status == 204, r
        wait_state(dapi, "completed")
        assert wait_exit(src) == 0, src.describe()
        on_target(dst, "migrated")
    finally:
        src.close()
        dst.close()


def test_snapshot_restore_and_migrate_at_grub_menu(workdir):
    """One firmware boot to GRUB's menu, paused and snapshotted there. A new petrel restores it
    and Enter boots the guest; another restores it again and migrates it live to a third, where
    Enter boots the guest: the firmware's state (fw_cfg, the chipset's PAM, the shadowed BIOS in
    RAM) and GRUB's went along."""
    p, api = at_grub_menu(workdir)
    try:
        state, mem = snapshot(api, workdir)
    finally:
        p.close()
    restore_and_migrate(workdir, state, mem, press_enter_and_pass)


def test_bad_firmware_and_devices_refused(workdir):
    """A file that is no firmware (the wrong size; the right size with no jump at the reset
    vector; none at all), a virtio-mmio disk with a firmware, and a boot source with both a
    firmware and a kernel: a clear refusal, the process ending normally."""
    image = workdir / "disk.img"
    fwlib.mkimage("grub-disk", image, guest("boot"), "", fwlib.GUEST_CMDLINE)
    (workdir / "short.bin").write_bytes(os.urandom(100000))
    (workdir / "zero.bin").write_bytes(bytes(256 << 10))
    petrel = str(guestlib.petrel_bin())
    cases = [(["--firmware", workdir / "short.bin"], "is 100000 bytes: a firmware image is a multiple of 4 KiB"),
             (["--firmware", workdir / "zero.bin"], "no jump at its reset vector"),
             (["--firmware", workdir / "none.bin"], "cannot read firmware"),
             (["--firmware", "seabios", "--disk", f"{image},ro,transport=mmio"],
              "a virtio-mmio device cannot be found by a firmware")]
    for args, want in cases:
        args = [str(a) for a in args]
        if "--disk" not in args:
            args += ["--disk", f"{image},ro"]
        r = subprocess.run([petrel, "run", "--mem", "64", "--debug-exit", *args], capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
        assert r.returncode in (1, 2), (args, r.returncode, r.stderr)   # an error, not a signal
        assert want in r.stderr, (args, r.stderr)
        assert "ERROR" in r.stderr and r.stdout == "", (args, r.stdout, r.stderr)

    d = workdir / "api"
    d.mkdir()
    p = apilib.Petrel(d)
    try:
        api = p.client()
        r = api.put("/boot-source", {"firmware": "seabios", "kernel_image_path": str(guest("boot"))}, check=False)
        assert r.status == 400 and "firmware" in r.fault and "kernel" in r.fault, r
        # the file's contents are read once, at the start: refused there, the process still serving
        assert api.put("/boot-source", {"firmware": str(workdir / "short.bin")}, check=False).status == 204
        assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(image), "is_root_device": False,
                                        "is_read_only": True}).status == 204
        r = api.put("/actions", {"action_type": "InstanceStart"}, check=False)
        assert r.status == 400 and "is 100000 bytes" in r.fault, r
        assert api.get("/").json["state"] == "Not started"
    finally:
        p.close()
