# SPDX-License-Identifier: Apache-2.0
"""The worker's guest agent client (docs/guest-agent.md) against tests/guests/agent_evil.c, a
freestanding guest that plays qemu-guest-agent on virtio-console's port org.qemu.guest_agent.0,
honest or hostile:

- honest: GET /guest/ping, /guest/info, /guest/interfaces answer what the agent said, checked;
  PUT /guest/time works; a command the agent lacks is a 502 with its error; a consistent
  snapshot and a backup of the running VM freeze and thaw around the save (the guest prints
  the order it saw) and answer {"consistency": "filesystem", "frozen_ms"}; "crash" asks
  nothing; PUT /guest/shutdown powers the guest off;
- garbage, flood, silent: a clear 502 or 504 within the bounded timeout, the VM running, the
  API answering meanwhile; "auto" falls back to a crash-consistent snapshot, "filesystem" is
  refused with the reason;
- a freeze that answers and a thaw that never does: the snapshot is written, the error says
  the thaw failed, the VM runs on.
"""
import json
import re
import subprocess
import threading
import time

import pytest

import apilib
from apifixtures import api, petrel, workdir  # noqa: F401  (pytest finds fixtures by name)

TIMEOUT_MS = 1500


def start(api, mode, transport="pci"):
    img = str(apilib.guest("agent_evil"))
    assert api.put("/boot-source", {"kernel_image_path": img,
                                    "boot_args": f"transport={transport} mode={mode}"}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    r = api.put("/guest-agent", {"enabled": True, "timeout_ms": TIMEOUT_MS}, check=False)
    assert r.status == 204, r
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 204, r


def running(api):
    return api.get("/").json["state"] == "Running"


def wait_open(petrel):
    petrel.expect(r"^agent: port \d+ open$", timeout=120)
    time.sleep(0.2)   # the device saw PORT_OPEN


def commands(petrel, last=None, n=1):
    """The commands the guest printed, once the n-th `last` is among them (the console is read
    by a thread: the API's answer may come before the guest's line is in)."""
    if last:
        end = time.monotonic() + 30
        while petrel.lines(rf"^agent: ({last})$").count(last) < n and time.monotonic() < end:
            time.sleep(0.05)
    return petrel.lines(r"^agent: (guest-[a-z-]+)$")


@pytest.mark.parametrize("transport", ["pci", "mmio"])
def test_honest_agent_answers(workdir, transport):
    petrel = apilib.Petrel(workdir, args=["--virtio-transport", transport])
    try:
        honest_agent_answers(petrel, petrel.client(), transport)
    finally:
        petrel.close()


def honest_agent_answers(petrel, api, transport):
    start(api, "honest", transport)
    wait_open(petrel)
    r = api.get("/guest/ping", check=False)
    assert r.status == 200 and r.json == {"ok": True}, r
    r = api.get("/guest/info", check=False)
    assert r.status == 200, r
    assert r.json["version"] == "petrel-agent-evil 1"
    assert {"name": "guest-exec", "enabled": False} in r.json["commands"]
    r = api.get("/guest/interfaces", check=False)
    assert r.status == 200, r
    eth0 = r.json["interfaces"][1]
    assert eth0 == {"name": "eth0", "mac": "06:00:ac:10:00:02",
                    "addresses": [{"type": "ipv4", "address": "172.16.0.2", "prefix": 30},
                                  {"type": "ipv6", "address": "fe80::ff:fe00:2", "prefix": 64}]}, r.json
    assert api.put("/guest/time", check=False).status == 204
    r = api.put("/guest/fsfreeze", {"action": "status"}, check=False)
    assert r.status == 200 and r.json == {"status": "thawed"}, r
    r = api.put("/guest/fstrim", check=False)
    assert r.status == 502 and "CommandNotFound" in r.fault, r
    r = api.put("/guest/fsfreeze", {"action": "melt"}, check=False)
    assert r.status == 400 and "action" in r.fault, r
    assert commands(petrel, "guest-fstrim") == ["guest-ping", "guest-info", "guest-network-get-interfaces", "guest-set-time",
                                "guest-fsfreeze-status", "guest-fstrim"]
    r = api.put("/guest/shutdown", {"mode": "powerdown"}, check=False)
    assert r.status == 204, r
    assert petrel.wait() == 0, petrel.describe()
    assert "agent: shutdown powerdown" in petrel.out.text()


def test_consistent_snapshot_and_backup_freeze_and_thaw(petrel, api, workdir):
    start(api, "honest")
    wait_open(petrel)
    body = {"snapshot_path": str(workdir / "s.state"), "mem_file_path": str(workdir / "s.mem"),
            "consistency": "filesystem"}
    r = api.put("/snapshot/create", body, check=False)
    assert r.status == 200, r
    assert r.json["consistency"] == "filesystem" and 0 <= r.json["frozen_ms"] < 60000, r.json
    assert commands(petrel, "guest-fsfreeze-thaw") == ["guest-fsfreeze-freeze", "guest-fsfreeze-thaw"]
    assert running(api)
    assert (workdir / "s.state").exists() and (workdir / "s.mem").exists()
    info = subprocess.run([str(apilib.petrel_bin()), "snapshot", "info", str(workdir / "s.state")],
                          capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    m = re.search(r"^consistency:\n(.*?)\n}", info.stdout, re.M | re.S)
    assert m and json.loads(m.group(1) + "}") == r.json, info.stdout
    # a backup of the running VM with "auto": the agent answers, so the file systems freeze
    r = api.put("/snapshot/backup", {"backup_dir": str(workdir / "b"), "consistency": "auto"}, check=False)
    assert r.status == 200 and r.json["consistency"] == "filesystem", r
    assert commands(petrel, "guest-fsfreeze-thaw", 2)[2:] == ["guest-ping", "guest-fsfreeze-freeze",
                                                              "guest-fsfreeze-thaw"]
    # "crash" asks the agent nothing; a paused VM's agent cannot freeze
    r = api.put("/snapshot/create", {**body, "consistency": "crash"}, check=False)
    assert r.status == 200 and r.json == {"consistency": "crash"}, r
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    r = api.put("/snapshot/create", body, check=False)
    assert r.status == 400 and "paused" in r.fault, r
    r = api.put("/snapshot/create", {**body, "consistency": "auto"}, check=False)
    assert r.status == 200 and r.json == {"consistency": "crash"}, r
    # Firecracker's request on a paused VM answers as it always did
    del body["consistency"]
    assert api.put("/snapshot/create", body).status == 204
    assert api.patch("/vm", {"state": "Resumed"}).status == 204
    assert len(commands(petrel)) == 5
    r = api.get("/guest/ping", check=False)
    assert r.status == 200, r


@pytest.mark.parametrize("mode,status,why", [
    ("garbage", 502, "not JSON"),
    ("flood", 504, "did not answer"),
    ("silent", 504, "did not answer"),
])
def test_hostile_agent_costs_a_bounded_timeout(petrel, api, workdir, mode, status, why):
    start(api, mode)
    petrel.expect(r"^agent: port \d+ open$", timeout=120)
    time.sleep(0.5)
    # the API answers while a request waits for the agent on the worker
    answers = {}

    def ask():
        t0 = time.monotonic()
        answers["ping"] = apilib.Client(petrel.sock).get("/guest/ping", check=False)
        answers["took"] = time.monotonic() - t0

    t = threading.Thread(target=ask)
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    assert running(api)
    assert time.monotonic() - t0 < 1.0
    t.join(60)
    r = answers["ping"]
    assert r.status == status and why in r.fault, r
    assert answers["took"] < 3 * TIMEOUT_MS / 1000 + 3, answers["took"]
    r = api.get("/guest/interfaces", check=False)
    assert r.status in (502, 504), r
    # "auto" falls back to a crash-consistent snapshot; "filesystem" is refused with the reason
    body = {"snapshot_path": str(workdir / "s.state"), "mem_file_path": str(workdir / "s.mem"),
            "consistency": "auto"}
    r = api.put("/snapshot/create", body, check=False)
    assert r.status == 200 and r.json == {"consistency": "crash"}, r
    r = api.put("/snapshot/create", {**body, "consistency": "filesystem"}, check=False)
    assert r.status == 400 and "freezing" in r.fault, r
    assert running(api)
    assert petrel.proc.poll() is None, petrel.describe()


def test_a_port_opened_and_closed_in_a_loop(petrel, api, workdir):
    """The guest closes and opens the agent's port thousands of times: requests meanwhile get an
    answer or a clear error within the timeout, the API and the VM run on, and once the guest
    keeps the port open the agent answers again."""
    start(api, "flap")
    wait_open(petrel)
    got = []
    while not petrel.lines(r"^agent: (flapped) \d+ times$") and len(got) < 40:
        t0 = time.monotonic()
        r = apilib.Client(petrel.sock).get("/guest/ping", check=False)
        got.append((r.status, time.monotonic() - t0, r.fault if r.status != 200 else ""))
        assert running(api)
    assert got, "the guest flapped before the first request"
    for status, took, fault in got:
        assert status in (200, 400, 502, 504) and took < 3 * TIMEOUT_MS / 1000 + 3, got
        assert status != 400 or "has not opened its agent port" in fault, got
        assert status == 200 or fault, got
    petrel.expect(r"^agent: flapped \d+ times$", timeout=120)
    deadline = time.monotonic() + 30
    while (r := api.get("/guest/ping", check=False)).status != 200:
        assert time.monotonic() < deadline, r
        time.sleep(0.2)
    assert running(api) and petrel.proc.poll() is None, petrel.describe()
    print(f"requests while the port flapped: {[g[0] for g in got]}")


def test_thaw_never_answered_reports_and_the_vm_runs(petrel, api, workdir):
    start(api, "nothaw")
    wait_open(petrel)
    body = {"snapshot_path": str(workdir / "s.state"), "mem_file_path": str(workdir / "s.mem"),
            "consistency": "filesystem"}
    t0 = time.monotonic()
    r = api.put("/snapshot/create", body, check=False)
    assert r.status == 400 and "thaw" in r.fault, r
    assert time.monotonic() - t0 < 2 * TIMEOUT_MS / 1000 + 10
    assert (workdir / "s.state").exists()
    assert running(api)
    assert commands(petrel, "guest-fsfreeze-thaw") == ["guest-fsfreeze-freeze", "guest-fsfreeze-thaw"]
    r = api.put("/guest/fsfreeze", {"action": "status"}, check=False)
    assert r.status == 200 and r.json == {"status": "frozen"}, r
