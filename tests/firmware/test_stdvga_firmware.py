# SPDX-License-Identifier: Apache-2.0
"""stdvga behind SeaBIOS (docs/display.md#stdvga): SeaBIOS runs Debian's vgabios-stdvga.bin as
the VGA device's option ROM (fw_cfg's pci1234,1111.rom), the BIOS's banner is drawn in text
mode and read back over VNC cell by cell with petrel's font (vgatext.py); GRUB's BIOS menu with
its two entries is drawn there too. One firmware pass to GRUB's menu: about 30 s on a PVM host.
(Typing at that menu: test_stdvga_keys.py.)"""
import contextlib
import time

import pytest

import apilib
import fwlib
import rfblib
import vgatext
from test_seabios import guest

pytestmark = [pytest.mark.needs_kvm,
              pytest.mark.skipif(bool(fwlib.missing_tools(qemu=False)),
                                 reason=f"missing {', '.join(fwlib.missing_tools(qemu=False))} (scripts/setup.sh)")]

BOOT_LIMIT = 300.0
GRUB_CFG = """serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=600
set default=0
echo "petrel-grub: menu"
menuentry "petrel boot guest" {
\tlinux /boot/kernel %s
}
menuentry "petrel rtc guest" {
\tlinux /boot/initrd %s
}
""" % (fwlib.GUEST_CMDLINE, fwlib.GUEST_CMDLINE)


def screen(c):
    """The screen's text as a VNC viewer sees it now."""
    c.update()
    return vgatext.read_text(c.pixel, c.width, c.height)


def wait_screen(c, want, timeout):
    """Read the screen until a line holds want; returns the lines."""
    end = time.monotonic() + timeout
    lines = []
    while time.monotonic() < end:
        lines = screen(c)
        if any(want in line for line in lines):
            return lines
        time.sleep(0.5)
    pytest.fail(f"{want!r} never on the screen; it shows:\n" + "\n".join(lines))


@contextlib.contextmanager
def grub_menu_on_vnc(workdir, banner=True):
    """petrel booting SeaBIOS with stdvga and the two-entry GRUB disk, read over VNC until the
    banner (banner=False: a host whose screen reads are slower than the firmware may miss it;
    nested KVM did) and then GRUB's menu show: yields (petrel, the VNC client) at the menu."""
    image = workdir / "menu.img"
    cfg = workdir / "grub.cfg"
    cfg.write_text(GRUB_CFG)
    # the second guest rides as the disk's /boot/initrd: GRUB's second entry boots it as a kernel
    fwlib.mkimage("grub-disk", image, guest("boot"), guest("rtc"), "", opts=("--grub-cfg", cfg))
    sock = workdir / "vnc.sock"
    p = apilib.Petrel(workdir)
    api = p.client()
    try:
        for url, body in (("/display", {"model": "stdvga", "tablet": False, "vnc_socket": str(sock)}),
                          ("/boot-source", {"firmware": "seabios"}),
                          ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}),
                          ("/drives/disk", {"drive_id": "disk", "path_on_host": str(image), "is_root_device": False,
                                            "is_read_only": True, "boot_index": 0}),
                          ("/actions", {"action_type": "InstanceStart"})):
            r = api.put(url, body, check=False)
            assert r.status == 204, f"{url}: {r}\n{p.describe()}"
        c = rfblib.connect_unix(sock).handshake()
        c.set_pixel_format_xrgb()
        c.set_encodings([0, rfblib.DESKTOP_SIZE, rfblib.QEMU_EXT_KEY])
        t0 = time.monotonic()
        # the BIOS's banner, in text mode (80x25 in 9x16 cells), before GRUB clears the screen
        # (SeaBIOS may have drawn it before the first read: it was there at once in a suite run)
        if banner:
            lines = wait_screen(c, "SeaBIOS (version", BOOT_LIMIT)
            assert (c.width, c.height) == (720, 400), (c.width, c.height)
            print(f"SeaBIOS on stdvga after {time.monotonic() - t0:.1f} s:\n" + "\n".join(l for l in lines if l))
        # GRUB's menu, drawn through the VGA BIOS
        lines = wait_screen(c, "petrel rtc guest", BOOT_LIMIT)
        assert any("GNU GRUB" in line for line in lines), "\n".join(lines)
        assert any("petrel boot guest" in line for line in lines), "\n".join(lines)
        print(f"GRUB's menu after {time.monotonic() - t0:.1f} s:\n" + "\n".join(l for l in lines if l))
        yield p, c
        c.close()
    finally:
        p.close()


def test_seabios_and_grub_menu_on_stdvga(workdir):
    with grub_menu_on_vnc(workdir):
        pass
