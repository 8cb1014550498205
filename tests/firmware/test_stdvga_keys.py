# SPDX-License-Identifier: Apache-2.0
"""stdvga behind SeaBIOS (docs/display.md#stdvga): SeaBIOS runs Debian's vgabios-stdvga.bin as
the VGA device's option ROM (fw_cfg's pci1234,1111.rom), the BIOS's banner is drawn in text
mode and read back over VNC cell by cell with petrel's font (vgatext.py); GRUB's BIOS menu is
drawn there too, and a Down and an Enter typed over VNC (QEMU's extended key event, as noVNC
sends them) boot the second of its two entries, which boot different test guests: the serial
console says which one ran. One firmware pass: about a minute on a PVM host."""
import os
import pathlib

import pytest

from test_stdvga_firmware import BOOT_LIMIT, grub_menu_on_vnc
from test_stdvga_firmware import pytestmark as firmware_marks

PVM_HOST = pathlib.Path("/sys/module/kvm_pvm").exists()

pytestmark = [*firmware_marks,
              pytest.mark.skipif(PVM_HOST and not os.environ.get("PETREL_VGAKEYS_ON_PVM"),
                                 reason="on a PVM host SeaBIOS's real mode is emulated and takes about one "
                                        "interrupt per window: the 18.2 Hz timer's IRQ 0 wins every one and the "
                                        "keyboard's IRQ 1 is never delivered (2026-11-27, docs/display.md); run "
                                        "under scripts/nested-kvm.sh or on hardware KVM")]


def test_grub_key_over_vnc_selects_an_entry(workdir):
    # the banner is test_stdvga_firmware's: here only the menu and the keys
    with grub_menu_on_vnc(workdir, banner=False) as (p, c):
        assert (c.width, c.height) == (720, 400), (c.width, c.height)
        # Down, Enter over VNC: the second entry
        for keysym, qnum in ((0xff54, 0xd0), (0xff0d, 0x1c)):
            c.qemu_key(keysym, qnum, True)
            c.qemu_key(keysym, qnum, False)
        # an update after them: the server has read the keys (a client it drops for not reading
        # its updates loses what it sent last)
        c.update()
        p.expect(r"rtc: status", timeout=BOOT_LIMIT)
        assert "boot: protocol" not in p.out.text(), "the first entry ran"
