"""The installed Debian disk for UEFI (issue 53: scripts/mkimage.sh debian --efi, a GPT disk
whose EFI system partition holds Debian's own GRUB) through OVMF, and the UEFI boot variables the
guest itself writes. First boot: OVMF -> the ESP's GRUB -> Debian's kernel -> systemd -> the
serial login prompt; root logs in and, with `efibootmgr`, adds a boot entry (Debian's GRUB by its
path on the ESP) which efibootmgr puts first in BootOrder, and powers the VM off. The entry and
the new BootOrder are in the VM's vars file. Second run, a new petrel on the same disk and vars
file (the VM destroyed and started again): OVMF boots by that entry, as `efibootmgr`'s
BootCurrent in the guest shows.

OVMF does not get through its start on a PVM host (docs/firmware.md#uefi-ovmf): this runs under
scripts/nested-kvm.sh or on hardware KVM, and skips on a PVM host. Two Debian boots: extra run only
(PETREL_LINUX_EXTRA=1, scripts/linux-extra.sh). Consoles in build/linux-firmware-debian-uefi*.log."""
import os
import re
import shutil
import time
from pathlib import Path

import pytest

import fwlib
from test_linux_firmware import DEBIAN_BOOT_TIMEOUT_S, DEBIAN_LOGIN, DEBIAN_PROMPT, MEM_MIB, STEP_TIMEOUT_S, \
    Guest, boot_options, need_images

LABEL = "petrel-uefi-test"

pytestmark = pytest.mark.skipif(Path("/sys/module/kvm_pvm").exists() and not os.environ.get("PETREL_OVMF_ON_PVM"),
                                reason="OVMF does not get through its start on a PVM host (its first FWAIT, run "
                                       "from the flash in emulated ring 0); run under scripts/nested-kvm.sh or on "
                                       "hardware KVM")


def boot(work, name, disk, vars_path):
    """A petrel booting the disk through OVMF with vars_path, at a root shell."""
    g = Guest(name, work)
    api = g.api
    assert api.put("/boot-source", {"firmware": "ovmf", "firmware_vars_path": str(vars_path)}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 2, "mem_size_mib": MEM_MIB}).status == 204
    assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(disk), "is_root_device": False,
                                    "is_read_only": False}).status == 204
    t0 = time.time()
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    g.expect(re.escape(DEBIAN_LOGIN), DEBIAN_BOOT_TIMEOUT_S)
    print(f"{name}: login prompt after {time.time() - t0:.0f}s")
    g.login()
    return g


def run(g, command, timeout=STEP_TIMEOUT_S):
    """command's output (between two markers) at the root prompt."""
    g.type(f"echo petrel-begin; {command}; echo petrel-end-$((6*7))")
    # bash's bracketed-paste codes may precede the first line: no anchor at its start
    m = g.expect(r"petrel-begin\s*\n((?:.*\n)*?)petrel-end-42\s*\n", timeout)
    g.expect(DEBIAN_PROMPT, timeout)
    return m.group(1).replace("\r", "")


def entry_of(listing, label):
    m = re.search(rf"^Boot([0-9A-F]{{4}})\*? {re.escape(label)}\b", listing, re.M)
    return m and m.group(1)


def test_debian_uefi_boot_entries_persist(tmp_path):
    need_images()
    if os.geteuid() != 0 or not shutil.which("mmdebstrap"):
        pytest.skip("the Debian disk needs root and mmdebstrap (scripts/mkimage.sh debian)")
    missing = fwlib.missing_efi_tools()
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (scripts/setup.sh)")
    extra = [*boot_options(), "petrel.lean", "rw", "systemd.getty_auto=0"]
    disk, vars_path = tmp_path / "debian-efi.img", tmp_path / "debian.vars"
    secs, _ = fwlib.mkimage("debian", disk, " ".join(extra), timeout=3600, opts=("--efi",))
    print(f"mkimage debian --efi: {secs:.1f} s")

    g = boot(tmp_path, "uefi-first", disk, vars_path)
    try:
        before = run(g, "efibootmgr")
        assert "BootOrder" in before and "BootCurrent" in before, before
        assert entry_of(before, LABEL) is None, before
        added = run(g, f"efibootmgr --create --disk /dev/vda --part 1 --label {LABEL} "
                       r"--loader '\EFI\debian\grubx64.efi'")
        new = entry_of(added, LABEL)
        assert new, added
        order = re.search(r"^BootOrder: (\S+)", added, re.M)
        assert order and order.group(1).split(",")[0] == new, f"{LABEL} (Boot{new}) is not first:\n{added}"
        print(f"efibootmgr added Boot{new}; BootOrder {order.group(1)}")
        g.type("poweroff")
        rc = g.proc.wait(timeout=STEP_TIMEOUT_S)
        assert rc == 0, f"petrel exited {rc} after poweroff" + g.where()
    finally:
        g.close()
    data = vars_path.read_bytes()
    assert LABEL.encode("utf-16-le") in data, "the new entry's label is not in the vars file"

    g = boot(tmp_path, "uefi-second", disk, vars_path)
    try:
        after = run(g, "efibootmgr")
        current = re.search(r"^BootCurrent: ([0-9A-F]{4})", after, re.M)
        assert current and current.group(1) == new, f"OVMF did not boot by Boot{new}:\n{after}"
        assert entry_of(after, LABEL) == new, after
    finally:
        g.close()
