# SPDX-License-Identifier: Apache-2.0
"""petreld's side of the guest agent (docs/manager.md#the-guest-agent): the definition's
petrel.shutdown, /vms/NAME/guest/... relayed to the worker, without a guest (no /dev/kvm)."""
import mgrlib

AGENT = {"guest-agent": {"enabled": True}}


def test_petrel_shutdown_is_acpi_or_agent_and_agent_needs_one(petreld):
    p = petreld()
    st, body = p.define("bad", petrel={"shutdown": "politely"})
    assert st == 400 and "petrel.shutdown" in body["fault_message"]
    st, body = p.define("noagent", petrel={"shutdown": "agent"})
    assert st == 400 and "needs a guest agent" in body["fault_message"]
    st, _ = p.define("acpi", petrel={"shutdown": "acpi"})
    assert st == 201
    st, vm = p.define("withagent", petrel={"shutdown": "agent"}, **AGENT)
    assert st == 201, vm


def test_guest_paths_refuse_clearly_without_a_running_agent(petreld):
    p = petreld()
    assert p.define("plain")[0] == 201
    assert p.define("agent", **AGENT)[0] == 201
    st, body = p.api("GET", "/vms/plain/guest/ping")
    assert st == 400 and "no guest agent" in body["fault_message"]
    st, body = p.api("GET", "/vms/agent/guest/ping")
    assert st == 409 and "not running" in body["fault_message"]
    st, body = p.api("GET", "/vms/agent/guest/frobnicate")
    assert st == 404 and "ping, info, interfaces" in body["fault_message"]
    st, body = p.api("GET", "/vms/agent/guest")
    assert st == 404
    st, _ = p.api("GET", "/vms/agent/guest/fsfreeze")
    assert st == 405
    st, _ = p.api("PUT", "/vms/agent/guest/ping", {})
    assert st == 405
    r = p.ctl("guest", "agent", "ping")
    assert r.returncode == 1 and "not running" in r.stderr
    assert p.ctl("guest", "agent", "dance").returncode == 2
    assert p.ctl("guest", "nosuch", "ping").returncode == 4
    _, vms = p.api("GET", "/list")
    assert all("guest_addresses" not in v for v in vms)
