# SPDX-License-Identifier: Apache-2.0
"""VNC end to end with a real guest (tests/guests/display.c on bochs-display and the PS/2
keyboard and mouse; docs/display.md#vnc): the guest programs its mode and draws; a VNC client
(rfblib) on the worker's vnc_socket gets exactly that frame, keys typed as keysyms (the US map)
and as QEMU's extended key events reach the guest (it echoes the line), the band it then draws
comes as an incremental update of only the lines it changed, and the pointer moves its mouse."""
import re

import apilib
import rfblib

from test_display_guest import H, W, expected_frame   # what the display guest draws (tests/api)


def test_vnc_frame_and_keys(tmp_path):
    p = apilib.Petrel(tmp_path)
    try:
        api = p.client()
        sock = tmp_path / "vnc.sock"
        assert api.put("/display", {"width": W, "height": H, "vnc_socket": str(sock)}, check=False).status == 204
        assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest("display")), "boot_args": "wait=90"}).status == 204
        assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        p.expect(r"^display: drawn 640x480$", timeout=60)
        c = rfblib.connect_unix(sock).handshake()
        c.set_pixel_format_xrgb()
        c.set_encodings([0, rfblib.DESKTOP_SIZE, rfblib.QEMU_EXT_KEY])
        c.update()
        assert (c.width, c.height) == (W, H)
        assert bytes(c.fb) == expected_frame(), "the frame over VNC is not what the guest drew"
        assert c.qemu_keys
        p.expect(r"^display: waiting for keys$")
        # the pointer: two positions, the guest's mouse sees motion
        c.pointer(100, 100)
        c.pointer(110, 95)
        p.expect(r"^mouse ")
        # keysyms through the US map: h i Return
        for ks in (ord("h"), ord("i"), 0xFF0D):
            c.key(ks, True)
            c.key(ks, False)
        p.expect(r"^line: hi$")
        p.expect(r"^display: band drawn$")
        rects = c.update(incremental=True)
        lines = sorted({y for (_, y0, _, h, enc) in rects if enc == 0 for y in range(y0, y0 + h)})
        assert lines and lines[0] in (99, 100) and lines[-1] == 119 and len(lines) <= 21, rects
        assert bytes(c.fb) == expected_frame(band=True)
        # QEMU's extended key event: scan codes o k Enter (keysyms that would say otherwise)
        for code in (0x18, 0x25, 0x1C):
            c.qemu_key(ord("x"), code, True)
            c.qemu_key(ord("x"), code, False)
        assert p.wait() == 0, p.describe()
        assert re.search(r"^ok display$", p.out.text(), re.M), p.describe()
        assert "forbidden system call" not in p.err.text(), p.describe()
        c.close()
    finally:
        p.signal()
        p.wait()
