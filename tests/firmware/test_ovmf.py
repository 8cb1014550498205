# SPDX-License-Identifier: Apache-2.0
"""UEFI with Debian's OVMF in petrel under KVM (issue 53, docs/firmware.md#uefi-ovmf): OVMF boots
GRUB's EFI image from the EFI system partition of scripts/mkimage.sh's grub-efi-disk, GRUB boots
the project's test guest. The variables OVMF writes on its first boot (its boot options,
BootOrder) are in the VM's vars file, made from Debian's template, and a second run (a power
cycle: a new petrel on the same file) boots by them; a VM at GRUB's EFI menu is snapshotted,
restored and migrated live, and Enter there boots the guest. (The refusals of bad files:
test_ovmf_refusals.py.)

OVMF printed nothing in 300 s under QEMU on a PVM host, and in petrel there it stops 19 exits in
(2026-11-27): OVMF's SEC runs in 32-bit ring 0 straight from the flash, which PVM emulates, and the
first FWAIT (InitializeFloatingPointUnits) is beyond PVM's emulator. These tests run under real
nested KVM (scripts/nested-kvm.sh) and on hardware KVM; on a PVM host they skip with that reason."""
import os
import pathlib

import pytest

import fwlib
from test_api_snapshot import snapshot
from test_ovmf_refusals import efi_disk, missing
from test_seabios import press_enter_and_pass, restore_and_migrate, start_at_grub_menu

PVM_HOST = pathlib.Path("/sys/module/kvm_pvm").exists()


pytestmark = [pytest.mark.needs_kvm,
              pytest.mark.skipif(bool(missing()), reason=f"missing {', '.join(missing())} (scripts/setup.sh)")]
# every test here boots OVMF (test_ovmf_refusals.py runs everywhere)
boots_ovmf = pytest.mark.skipif(PVM_HOST and not os.environ.get("PETREL_OVMF_ON_PVM"),
                                reason="OVMF does not get through its start on a PVM host: its SEC runs in "
                                       "ring 0 from the flash, which PVM emulates, and stops at its first FWAIT "
                                       "(nothing printed in 300 s under QEMU, 2026-11-27); run under "
                                       "scripts/nested-kvm.sh or on hardware KVM")

BOOT_LIMIT = 600.0       # s for one VM run (OVMF's start under nested KVM in TCG is slow)
BOOT_ORDER = "BootOrder".encode("utf-16-le")   # a variable's name in the store is UTF-16


def run(disks, vars_path, markers=()):
    argv = fwlib.petrel_argv(disks, firmware="ovmf", vars=vars_path, extra=("--level", "Info"))
    b = fwlib.run_timed(argv, [fwlib.GRUB_MARKER, "ok boot", *markers], timeout=BOOT_LIMIT)
    print(f"{' '.join(map(str, disks))}: {b}")
    assert b.rc is not None, f"petrel still running after {BOOT_LIMIT} s:\n{b.out[-3000:]}"
    return b


@boots_ovmf
def test_ovmf_boots_grub_and_keeps_its_variables(workdir):
    """First boot: the vars file is made from the template (0600), OVMF finds GRUB's EFI image on
    the ESP, GRUB boots the guest, which passes; OVMF wrote its boot options and BootOrder into
    the file. Second boot (a new petrel on the same file, a power cycle): the same way, by them."""
    image, vars_path = efi_disk(workdir), workdir / "vm.vars"
    template = fwlib.OVMF_VARS.read_bytes()
    assert BOOT_ORDER not in template
    b = run([f"{image},ro,boot=0"], vars_path)
    assert b.rc == 0 and "ok boot" in b.out, b.out[-3000:]
    assert f"created the vars file {vars_path}" in b.out, b.out[-3000:]
    assert vars_path.stat().st_mode & 0o777 == 0o600
    first = vars_path.read_bytes()
    assert len(first) == len(template) and first != template and BOOT_ORDER in first
    assert b.out.index(fwlib.GRUB_MARKER) < b.out.index("ok boot")

    b = run([f"{image},ro,boot=0"], vars_path)
    assert b.rc == 0 and "ok boot" in b.out, b.out[-3000:]
    assert "created the vars file" not in b.out
    assert BOOT_ORDER in vars_path.read_bytes()


def at_grub_menu(workdir):
    """A petrel (API) booting the EFI disk through OVMF, GRUB waiting an hour at its menu."""
    image = efi_disk(workdir, "menu.img", timeout=3600)
    return start_at_grub_menu(workdir, image, {"firmware": "ovmf", "firmware_vars_path": str(workdir / "menu.vars")},
                              BOOT_LIMIT)


@boots_ovmf
def test_snapshot_restore_and_migrate_at_grub_efi_menu(workdir):
    """OVMF -> GRUB's EFI menu, snapshotted there (FLSH: the flash's state and the variables).
    Restored, Enter boots the guest; restored again and migrated live, Enter boots it on the
    target: the firmware's runtime state in RAM and its flash went along."""
    p, api = at_grub_menu(workdir)
    try:
        state, mem = snapshot(api, workdir)
    finally:
        p.close()
    saved = (workdir / "menu.vars").read_bytes()

    def enter(p, name):   # GRUB's menu, where it was saved: the variables as they were saved
        assert (workdir / "menu.vars").read_bytes() == saved
        press_enter_and_pass(p, name)
    restore_and_migrate(workdir, state, mem, enter)
