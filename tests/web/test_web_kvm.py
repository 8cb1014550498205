# SPDX-License-Identifier: Apache-2.0
"""The page with running guests (needs /dev/kvm; on a host without it, scripts/nested-kvm.sh),
in one browser and one page load (under nested KVM each costs most of a minute): from the page,
start the serial guest and type into its console (markup typed in comes back from the guest as
text, "got: LINE"); start the counter guest and see its CPU chart rise; pause and resume it;
the list against the API; the list on a phone-sized screen; destroy. With
PETREL_WEB_SCREENSHOTS=DIR it also saves the docs' pictures (docs/web). A failure leaves the
page's picture, its text and console, and petreld's logs in build/web-kvm (outside /tmp, which a
nested-KVM run loses)."""
import os
import shutil

import pytest

import weblib

TYPED = "<b>hi</b> web"


@pytest.mark.needs_kvm   # known where the browser is missing too (browser_ok skips first)
def test_running_guests_in_the_page(web, browser_ok):
    g = weblib.mgrlib.guest
    if not g("counter").exists():
        pytest.skip("test guests not built")
    keep = weblib.mgrlib.BUILD / "web-kvm"
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)
    p, fwd = web()
    try:
        assert p.define("<b>x</b>")[0] == 400   # a name with markup is refused, so never shown
        assert p.define("web-burn", kernel=g("counter"), **{"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}})[0] == 201
        assert p.define("web-tty", **{"boot-source": {"kernel_image_path": str(g("serial")), "boot_args": "lines=2 line_wait=600"}})[0] == 201
        assert p.define("web-idle", **{"boot-source": {"kernel_image_path": str(g("idle"))},
                                       "machine-config": {"vcpu_count": 2, "mem_size_mib": 128}})[0] == 201
        assert p.api("POST", "/vms/web-idle/start", timeout=120)[0] == 200
        shots = os.environ.get("PETREL_WEB_SCREENSHOTS")
        if shots:
            os.makedirs(shots, exist_ok=True)
        res = weblib.browser("kvm", fwd.url, timeout=1500, tty_vm="web-tty", burn_vm="web-burn", vms=3, typed=TYPED,
                             min_cpu=10, dir=shots and os.path.abspath(shots), timeout_ms=300000, long_ms=300000,
                             fail_dir=str(keep), lean=True)
        print("kvm scenario:", res)
        assert f"got: {TYPED}" in res["console"] and res["console_injected"] == 0
        assert res["cpu"]["last"] >= 10 and res["cpu"]["points"] >= 2
        assert res["paused_state"] == "paused" and res["resumed_state"] == "running"
        api = {v["name"]: v for v in res["api"]}
        assert sorted(r["name"] for r in res["rows"]) == sorted(api) == ["web-burn", "web-idle", "web-tty"]
        for r in res["rows"]:
            v = api[r["name"]]
            assert (r["state"], r["vcpus"], r["mem"]) == (v["state"], str(v["vcpus"]), f"{v['mem']} MiB"), (r, v)
        assert api["web-burn"]["state"] == "running" and api["web-idle"]["state"] == "running"
        assert api["web-tty"]["state"] == "shut off"
        assert res["status"]["Migration"] == "none under way" and res["status"]["Replication"] == "not replicated"
        assert res["phone_overflow"] <= 1, res["phone_overflow"]
        assert "page_errors" not in res, res
        assert p.api("GET", "/vms/web-burn")[1]["state"] == "shut off"
        events = [e["event"] for e in p.api("GET", "/vms/web-burn/events")[1] if "event" in e]
        assert {"started", "paused", "resumed", "stopped"} <= set(events), events
    finally:
        shutil.copy(p.log, keep / "petreld.log")
        if (p.state / "logs").is_dir():
            shutil.copytree(p.state / "logs", keep / "logs", dirs_exist_ok=True)
