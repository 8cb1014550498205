# SPDX-License-Identifier: Apache-2.0
"""A VM's screen in the page with a real guest (needs /dev/kvm): petreld starts the display test
guest (tests/guests/display.c: bochs-display, PS/2 keyboard) from a definition with a "display"
section; the page's screen tab (noVNC in headless Chromium, through petreld's WebSocket relay
and the worker's VNC server) shows what the guest drew, and a line typed in it reaches the guest
(it echoes "line: ..." on its serial console); a read-only user's typing does not; petreld's
screenshot is the guest's frame (docs/display.md)."""
import time

import pytest

import rfblib
import weblib
from test_display_guest import pixel   # what the display guest draws (tests/api)
from weblib import raw


def wait_for(cond, timeout):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


@pytest.mark.needs_kvm   # known where the browser is missing too (browser_ok skips first)
def test_screen_of_a_running_guest(web, browser_ok, tmp_path):
    g = weblib.mgrlib.guest
    if not g("display").exists():
        pytest.skip("test guests not built")
    users = weblib.users_file(tmp_path / "users", {"ann": ("admin", "ann-pw"), "rob": ("readonly", "rob-pw")})
    p, fwd = web(args=["--users", str(users), "--web-login"])
    assert p.define("desk", kernel=g("display"), **{
        "display": {"width": 640, "height": 480},
        "boot-source": {"kernel_image_path": str(g("display")), "boot_args": "wait=120"},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}})[0] == 201
    assert p.api("POST", "/vms/desk/start", timeout=120)[0] == 200
    log = p.state / "logs" / "desk.worker.log"
    wait_for(lambda: "display: waiting for keys" in log.read_text(), 60)
    st, head, body = raw(p.sock, "GET", "/vms/desk/screenshot")
    assert st == 200 and "image/png" in head
    w, h, px = rfblib.png_decode(body)
    assert (w, h) == (640, 480) and all(px(x, y) == pixel(x, y) for x, y in ((0, 0), (10, 20), (639, 479), (300, 200)))
    v = pixel(5, 5)
    probe = [5, 5, v >> 16, (v >> 8) & 0xFF, v & 0xFF]
    ro = weblib.browser("screen", fwd.url, vm="desk", user="rob", password="rob-pw", typed="zz", enter=True, probe=probe,
                        tolerance=24)
    assert ro["blue"] and ro["menu"] == 0, ro
    adm = weblib.browser("screen", fwd.url, vm="desk", user="ann", password="ann-pw", typed="hi", enter=True,
                         probe=probe, tolerance=24, no_combo=True)
    assert adm["blue"] and adm["shot"] == 200, adm
    wait_for(lambda: "line: hi" in log.read_text(), 30)
    text = log.read_text()
    assert "line: zz" not in text and "key 2c" not in text, text[-2000:]   # 'z' (0x2c) never reached it
