# SPDX-License-Identifier: Apache-2.0
"""petreld's side of the guest agent (docs/manager.md#the-guest-agent): the definition's
petrel.shutdown, /vms/NAME/guest/... relayed to the worker: refusals without a guest (no /dev/kvm), and
the freestanding agent guests (tests/guests/agent_evil.c) under KVM."""
import json
import re
import time

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


def define_agent_vm(p, tmp_path, name, mode, timeout_ms=1000):
    disk = tmp_path / f"{name}.img"
    disk.write_bytes(b"petrel-agent" + bytes(1 << 20))
    st, vm = p.define(name, kernel=mgrlib.guest("agent_evil"), petrel={"shutdown": "agent"},
                      **{"boot-source": {"kernel_image_path": str(mgrlib.guest("agent_evil")),
                                         "boot_args": f"transport=pci mode={mode}"},
                         "guest-agent": {"enabled": True, "timeout_ms": timeout_ms},
                         "drives": [{"drive_id": "data", "path_on_host": str(disk), "is_root_device": False,
                                     "is_read_only": False}]})
    assert st == 201, vm


def worker_log(p, name):
    return (p.state / "logs" / f"{name}.worker.log").read_text(errors="replace")


def wait_port_open(p, name, timeout=60):
    """Until the guest says it opened its agent port (agent_evil's "agent: port N open")."""
    deadline = time.monotonic() + timeout
    while not re.search(r"^agent: port \d+ open$", worker_log(p, name), re.M):
        assert time.monotonic() < deadline, worker_log(p, name)[-2000:]
        time.sleep(0.1)


def test_an_agent_through_petreld_addresses_consistent_backups_and_shutdown(petreld, kvm, tmp_path):
    """The freestanding honest agent (tests/guests/agent_evil.c) in a jailed worker under petreld:
    its addresses in list and info, its verbs through petrelctl, backups and snapshots frozen
    and thawed around (the guest saw freeze then thaw), crash-consistent when asked, and
    shutdown through the agent."""
    p = petreld()
    ev = mgrlib.Events(p.sock)
    define_agent_vm(p, tmp_path, "ga", "honest")
    st, body = p.api("POST", "/vms/ga/start")
    assert st == 200, body
    e = ev.wait("ga", "guest addresses changed", timeout=60)
    assert "172.16.0.2" in e["addresses"] and "127.0.0.1" not in e["addresses"]
    _, brief = p.api("GET", "/list")
    assert "172.16.0.2" in brief[0]["guest_addresses"]
    r = p.ctl("list")
    assert "172.16.0.2(agent)" in r.stdout, r.stdout
    _, vm = p.api("GET", "/vms/ga")
    eth0 = [i for i in vm["guest_interfaces"] if i["name"] == "eth0"][0]
    assert eth0["mac"].lower() == "06:00:ac:10:00:02"
    assert {"address": "172.16.0.2", "prefix": 30} in eth0["addresses"]
    r = p.ctl("guest", "ga", "ping")
    assert r.returncode == 0, r.stderr
    r = p.ctl("guest", "ga", "interfaces")
    assert r.returncode == 0 and "eth0" in r.stdout and "172.16.0.2/30" in r.stdout, r.stdout
    st, body = p.api("GET", "/vms/ga/guest/info")
    assert st == 200 and body, body

    # A backup of a VM with an agent is file-system consistent by default: frozen, then thawed.
    before = worker_log(p, "ga").count("agent: guest-fsfreeze-freeze")
    r = p.ctl("backup", "ga", "b1")
    assert r.returncode == 0, r.stderr
    meta = json.loads((p.root / "snap" / "ga.backups" / "b1" / "meta.json").read_text())
    assert meta["consistency"] == "filesystem" and meta["frozen_ms"] >= 0, meta
    log = worker_log(p, "ga")
    assert log.count("agent: guest-fsfreeze-freeze") == before + 1
    assert log.rindex("agent: guest-fsfreeze-thaw") > log.rindex("agent: guest-fsfreeze-freeze")
    assert (p.root / "snap" / "ga.backups" / "b1" / "data.img").read_bytes()[:12] == b"petrel-agent"
    # asked for a crash-consistent one: the agent is not asked
    r = p.ctl("backup", "ga", "b2", "--consistency", "crash")
    assert r.returncode == 0, r.stderr
    assert worker_log(p, "ga").count("agent: guest-fsfreeze-freeze") == before + 1
    backups = {b["name"]: b for b in p.api("GET", "/vms/ga/backups")[1]}
    assert backups["b2"]["consistency"] == "crash" and backups["b1"]["consistency"] == "filesystem"
    assert p.ctl("backup", "ga", "b3", "--consistency", "maybe").returncode == 1
    # a snapshot through petreld: the worker pauses around the freeze; the VM runs on after it
    r = p.ctl("snapshot-create", "ga", "s1")
    assert r.returncode == 0, r.stderr
    snaps = p.api("GET", "/vms/ga/snapshots")[1]
    assert snaps[0]["consistency"] == "filesystem", snaps
    assert p.api("GET", "/vms/ga")[1]["state"] == "running"
    assert p.ctl("guest", "ga", "ping").returncode == 0

    # shutdown: the agent's guest-shutdown (the guest powers off), no Ctrl-Alt-Del
    t0 = time.monotonic()
    r = p.ctl("shutdown", "ga")
    took = time.monotonic() - t0
    vm_log = (p.state / "logs" / "ga.log").read_text(errors="replace")
    assert r.returncode == 0, r.stderr
    assert "agent: guest-shutdown" in worker_log(p, "ga"), worker_log(p, "ga")[-2000:]
    assert "sending Ctrl-Alt-Del" not in vm_log and "destroying it" not in vm_log, vm_log
    assert took < 20, (took, vm_log, worker_log(p, "ga")[-2000:])
    assert p.api("GET", "/vms/ga")[1]["state"] == "shut off"
    assert "guest_addresses" not in p.api("GET", "/list")[1][0]   # they were the ended worker's
    ev.close()


def test_a_silent_agent_costs_a_bounded_wait_and_a_crash_consistent_backup(petreld, kvm, tmp_path):
    """An agent that never answers: petreld's relay answers 504 in bounded time, an automatic
    backup is crash-consistent (said so in its meta), and list shows no agent addresses."""
    p = petreld()
    define_agent_vm(p, tmp_path, "quiet", "silent")
    assert p.api("POST", "/vms/quiet/start")[0] == 200
    wait_port_open(p, "quiet")
    t0 = time.monotonic()
    st, body = p.api("GET", "/vms/quiet/guest/ping", timeout=60)
    assert st == 504, body
    assert time.monotonic() - t0 < 15
    r = p.ctl("backup", "quiet", "b1")
    assert r.returncode == 0, r.stderr
    meta = json.loads((p.root / "snap" / "quiet.backups" / "b1" / "meta.json").read_text())
    assert meta["consistency"] == "crash", meta
    r = p.ctl("backup", "quiet", "b2", "--consistency", "filesystem")
    assert r.returncode == 1 and "b2" not in [b["name"] for b in p.api("GET", "/vms/quiet/backups")[1]]
    assert p.api("GET", "/vms/quiet")[1]["state"] == "running"
    assert "guest_addresses" not in p.api("GET", "/list")[1][0]
