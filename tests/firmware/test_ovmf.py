# SPDX-License-Identifier: Apache-2.0
"""UEFI with Debian's OVMF in petrel under KVM (issue 53, docs/firmware.md#uefi-ovmf): OVMF boots
GRUB's EFI image from the EFI system partition of scripts/mkimage.sh's grub-efi-disk, GRUB boots
the project's test guest. The variables OVMF writes on its first boot (its boot options,
BootOrder) are in the VM's vars file, made from Debian's template, and a second run (a power
cycle: a new petrel on the same file) boots by them; a VM at GRUB's EFI menu is snapshotted,
restored and migrated live, and Enter there boots the guest; a vars file that is truncated or no
firmware volume, a code file that is not OVMF's, a vars file with SeaBIOS or with a kernel are
refused clearly, and a refused vars file is left as it was.

OVMF printed nothing in 300 s under QEMU on a PVM host, and in petrel there it stops 19 exits in
(2026-11-27): OVMF's SEC runs in 32-bit ring 0 straight from the flash, which PVM emulates, and the
first FWAIT (InitializeFloatingPointUnits) is beyond PVM's emulator. These tests run under real
nested KVM (scripts/nested-kvm.sh) and on hardware KVM; on a PVM host they skip with that reason."""
import hashlib
import os
import pathlib
import subprocess

import pytest

import apilib
import fwlib
import guestlib
from test_api_snapshot import snapshot
from test_seabios import press_enter_and_pass, restore_and_migrate, start_at_grub_menu

PVM_HOST = pathlib.Path("/sys/module/kvm_pvm").exists()


def missing():
    return list(fwlib.missing_tools(qemu=False)) + fwlib.missing_efi_tools()


pytestmark = [pytest.mark.needs_kvm,
              pytest.mark.skipif(bool(missing()), reason=f"missing {', '.join(missing())} (scripts/setup.sh)")]
# the tests that boot OVMF (the refusals run everywhere)
boots_ovmf = pytest.mark.skipif(PVM_HOST and not os.environ.get("PETREL_OVMF_ON_PVM"),
                                reason="OVMF does not get through its start on a PVM host: its SEC runs in "
                                       "ring 0 from the flash, which PVM emulates, and stops at its first FWAIT "
                                       "(nothing printed in 300 s under QEMU, 2026-11-27); run under "
                                       "scripts/nested-kvm.sh or on hardware KVM")

BOOT_LIMIT = 600.0       # s for one VM run (OVMF's start under nested KVM in TCG is slow)
BOOT_ORDER = "BootOrder".encode("utf-16-le")   # a variable's name in the store is UTF-16


def guest(name):
    path = guestlib.build_dir() / "tests" / "guests" / f"{name}.bzimage"
    if not path.exists():
        pytest.skip(f"{path} is not built (ninja -C {guestlib.build_dir()})")
    return path


def efi_disk(workdir, name="efi.img", timeout=None):
    image = workdir / name
    env = dict(os.environ, PETREL_GRUB_TIMEOUT=str(timeout)) if timeout else None
    fwlib.mkimage("grub-efi-disk", image, guest("boot"), "", fwlib.GUEST_CMDLINE, env=env)
    return image


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


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bad_vars_and_code_refused(workdir):
    """Clear refusals, the process ending normally, and a refused vars file left unchanged."""
    image = efi_disk(workdir)
    short = workdir / "short.vars"
    short.write_bytes(fwlib.OVMF_VARS.read_bytes()[:100000])
    nofv = workdir / "nofv.vars"
    nofv.write_bytes(bytes(128 << 10))
    good = workdir / "good.vars"
    good.write_bytes(fwlib.OVMF_VARS.read_bytes())
    before = {f: digest(f) for f in (short, nofv, good)}
    petrel = str(guestlib.petrel_bin())
    cases = [(["--firmware", "ovmf", "--firmware-vars", short], "is 100000 bytes: a vars file is a multiple of 4 KiB"),
             (["--firmware", "ovmf", "--firmware-vars", nofv], "not a UEFI variables file"),
             (["--firmware", "seabios", "--firmware-vars", good], "SeaBIOS keeps no variables"),
             (["--firmware", str(fwlib.SEABIOS), "--firmware-vars", good], "not an OVMF code file"),
             (["--kernel", guest("boot"), "--firmware-vars", good], "goes with a firmware")]
    for args, want in cases:
        args = [str(a) for a in args] + ["--disk", f"{image},ro"]
        r = subprocess.run([petrel, "run", "--mem", "64", "--debug-exit", *args], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode in (1, 2), (args, r.returncode, r.stderr)
        assert want in r.stderr, (args, r.stderr)
    assert {f: digest(f) for f in (short, nofv, good)} == before

    d = workdir / "api"
    d.mkdir()
    p = apilib.Petrel(d)
    try:
        api = p.client()
        r = api.put("/boot-source", {"firmware": "seabios", "firmware_vars_path": str(good)}, check=False)
        assert r.status == 400 and "SeaBIOS keeps no variables" in r.fault, r
        r = api.put("/boot-source", {"kernel_image_path": str(guest("boot")), "firmware_vars_path": str(good)},
                    check=False)
        assert r.status == 400 and "goes with a firmware" in r.fault, r
        assert api.put("/boot-source", {"firmware": "ovmf", "firmware_vars_path": str(nofv)}).status == 204
        assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(image), "is_root_device": False,
                                        "is_read_only": True}).status == 204
        r = api.put("/actions", {"action_type": "InstanceStart"}, check=False)
        assert r.status == 400 and "not a UEFI variables file" in r.fault, r
        assert api.get("/").json["state"] == "Not started"
        cfg = api.get("/vm/config", check=False).json["boot-source"]   # petrel's fields: beyond Firecracker's schema
        assert cfg["firmware"] == "ovmf" and cfg["firmware_vars_path"] == str(nofv), cfg
    finally:
        p.close()
    assert digest(nofv) == before[nofv]
