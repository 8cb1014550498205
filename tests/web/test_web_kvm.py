# SPDX-License-Identifier: Apache-2.0
"""The page with running guests (needs /dev/kvm; on a host without it, scripts/nested-kvm.sh):
start, pause, resume and destroy from the page change the VM; the CPU chart rises while the
counter guest burns a vCPU; the console shows the serial guest's output and what is typed
reaches it ("got: LINE"). With PETREL_WEB_SCREENSHOTS=DIR it also saves the docs' pictures."""
import os

import pytest

import weblib


def test_running_guests_in_the_page(web, browser_ok, tmp_path):
    if not weblib.mgrlib.has_kvm():
        pytest.skip("no access to /dev/kvm")
    if not weblib.mgrlib.guest("counter").exists():
        pytest.skip("test guests not built")
    p, fwd = web()
    g = weblib.mgrlib.guest
    assert p.define("web-actions", kernel=g("counter"))[0] == 201
    assert p.define("web-burn", kernel=g("counter"), **{"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}})[0] == 201
    assert p.define("web-tty", kernel=g("serial"), **{"boot-source": {"kernel_image_path": str(g("serial")),
                                                                       "boot_args": "lines=5"}})[0] == 201
    assert p.api("POST", "/vms/web-burn/start")[0] == 200
    assert p.api("POST", "/vms/web-tty/start")[0] == 200
    shots = os.environ.get("PETREL_WEB_SCREENSHOTS")
    res = weblib.browser("kvm", fwd.url, timeout=540, act_vm="web-actions", burn_vm="web-burn", tty_vm="web-tty",
                         min_cpu=10, dir=shots, timeout_ms=180000)
    print("kvm scenario:", res)
    assert res["paused_state"] == "paused"
    assert res["cpu"]["last"] >= 10
    assert "got: hello web" in res["console"]
    assert p.api("GET", "/vms/web-actions")[1]["state"] == "shut off"
    events = [e["event"] for e in p.api("GET", "/vms/web-actions/events")[1] if "event" in e]
    assert {"started", "paused", "resumed", "stopped"} <= set(events), events
    if shots:
        assert res.get("phone_overflow") is False
