# SPDX-License-Identifier: Apache-2.0
"""bochs-display behind a firmware (docs/display.md): SeaBIOS places its BARs (petrel's PCI bus
leaves them to the firmware), so the framebuffer's KVM slot is made where the firmware's
configuration writes put BAR 0, not where petrel would have; GRUB boots the display test guest
(tests/guests/display.c), which finds the device there, draws, and reads keys. The frame is read
through display.h (the test-only PUT /display/frame): the guest's drawing, with the dirty log
of the moved slot. SeaBIOS itself shows nothing on it (no VGA ROM for a class 03/80 device:
BIOS guests keep the serial console). One firmware pass: 35-55 s on a PVM host."""
import os
import pathlib

import pytest

import apilib
import fwlib
from test_display_guest import H, W, expected_frame, frame, keys
from test_seabios import guest

pytestmark = [pytest.mark.needs_kvm,
              pytest.mark.skipif(bool(fwlib.missing_tools(qemu=False)),
                                 reason=f"missing {', '.join(fwlib.missing_tools(qemu=False))} (scripts/setup.sh)")]

BOOT_LIMIT = 300.0
PVM_HOST = pathlib.Path("/sys/module/kvm_pvm").exists()


def start(workdir, image, boot_source, width, height):
    """A petrel (API) with a display (no tablet) booting image (boot index 0) through
    boot_source's firmware."""
    p = apilib.Petrel(workdir)
    api = p.client()
    for url, body in (("/display", {"width": width, "height": height, "tablet": False}),
                      ("/boot-source", boot_source),
                      ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}),
                      ("/drives/disk", {"drive_id": "disk", "path_on_host": str(image), "is_root_device": False,
                                        "is_read_only": True, "boot_index": 0}),
                      ("/actions", {"action_type": "InstanceStart"})):
        r = api.put(url, body, check=False)
        if r.status != 204:
            p.close()
            pytest.fail(f"{url}: {r}\n{p.describe()}")
    return p, api


def test_display_behind_seabios(workdir):
    image = workdir / "display.img"
    fwlib.mkimage("grub-disk", image, guest("display"), "", "wait=120")
    p, api = start(workdir, image, {"firmware": "seabios"}, W, H)
    try:
        found = p.expect(r"display: found 00:(\w+)\.0 fb (0x\w+) mmio (0x\w+)", timeout=BOOT_LIMIT)
        p.expect(r"display: drawn 640x480", timeout=60)
        mode, data = frame(api, workdir / "frame.bin")
        assert mode["enabled"] and (mode["width"], mode["height"]) == (W, H), mode
        assert data == expected_frame(), "the frame is not what the guest drew"
        p.expect(r"display: waiting for keys", timeout=60)
        keys(api, [0x23, 0x1C])
        p.expect(r"display: band drawn", timeout=60)
        mode2, data = frame(api, workdir / "frame2.bin")
        assert mode2["first_changed"] in (99, 100) and mode2["last_changed"] == 119, mode2
        assert data == expected_frame(band=True)
        keys(api, [0x1C])
        assert p.wait(60) == 0, p.describe()
        print(f"bochs-display at 00:{found.group(1)}.0, framebuffer at {found.group(2)}, registers at {found.group(3)}")
    finally:
        p.close()


@pytest.mark.skipif(PVM_HOST and not os.environ.get("PETREL_OVMF_ON_PVM"),
                    reason="OVMF does not get through its start on a PVM host (test_ovmf.py): run under "
                           "scripts/nested-kvm.sh or on hardware KVM")
def test_display_behind_ovmf(workdir):
    """OVMF's video driver (QemuVideoDxe) takes bochs-display: it reads the EDID and the DISPI
    registers, sets a mode and the firmware's console is drawn on it; by GRUB's EFI menu the
    frame is a mode petrel shows and not blank."""
    image = workdir / "efi.img"
    fwlib.mkimage("grub-efi-disk", image, guest("display"), "", "wait=300",
                  env=dict(os.environ, PETREL_GRUB_TIMEOUT="3600"))
    p, api = start(workdir, image, {"firmware": "ovmf", "firmware_vars_path": str(workdir / "vm.vars")}, 800, 600)
    try:
        p.expect(r"executed automatically in", timeout=900)
        mode, data = frame(api, workdir / "grub.bin")
        print(f"at GRUB's EFI menu: {mode}")
        assert mode["enabled"] and mode["bpp"] == 32, mode
        assert len(data) == mode["width"] * mode["height"] * 4
        assert data.count(0) < len(data), "the firmware's screen is blank"
    finally:
        p.close()
