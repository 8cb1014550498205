# SPDX-License-Identifier: Apache-2.0
"""petreld's live migration between hosts, the parts that need no KVM (docs/manager.md#migration-
between-hosts): the request bodies, a target that cannot be reached, refuses our certificate, has
a VM of that name or whose receiver fails; the target's side (POST/DELETE /migrations/incoming).
Each failure answers a clear 4xx/5xx, leaves the VM running on the source and nothing on the
target. A "running" VM here is a real petrel worker with no guest (mgrlib.leave_workers): the
control path is all real up to the worker's PUT /migration/send, which it refuses. The guest
migration itself: tests/manager/test_manager_migrate_guest.py (nested KVM)."""
import json
import signal
import subprocess
import time

import pytest

import mgrlib
import tlslib

pytestmark = pytest.mark.skipif(not tlslib.have_certtool(), reason="certtool (gnutls-bin) not installed")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    tlslib.make_pki(root / "ours", "src,127.0.0.1,localhost", "dst,127.0.0.1,localhost")
    tlslib.make_pki(root / "theirs", "rogue,127.0.0.1")
    return root


def host(petreld, tlsdir, jailer=False, addr="127.0.0.1"):
    port = tlslib.free_port()
    p = petreld(args=["--listen-tcp", f"{addr}:{port}", "--tls-dir", str(tlsdir)], jailer=jailer)
    tlslib.wait_port(("127.0.0.1", port), p.proc)
    return p, port


@pytest.fixture
def running_vm(petreld, pki):
    """A source petreld with VM "mv" running (a worker without a guest), and the worker."""
    p, port = host(petreld, pki / "ours" / "src")
    assert p.define("mv")[0] == 201
    p.stop(signal.SIGKILL)
    workers = mgrlib.leave_workers(p, ["mv"])
    p.start()
    tlslib.wait_port(("127.0.0.1", port), p.proc)
    assert p.api("GET", "/vms/mv")[1]["state"] == "running"
    yield p, workers[0]
    for w in workers:
        w.kill()


def still_running(p, worker):
    st, vm = p.api("GET", "/vms/mv")
    assert st == 200 and vm["state"] == "running" and "operation" not in vm, vm
    assert worker.poll() is None
    assert (p.defs / "mv.json").exists()


def nothing_on(p):
    st, vms = p.api("GET", "/vms")
    assert st == 200 and [v["name"] for v in vms] == [], vms
    assert not list(p.defs.glob("*.json"))


@pytest.mark.parametrize("body, why", [
    (b"", "JSON object"), (b"[]", "JSON object"), (b"{\"to\": 7}", "to:"), (b"{}", "to:"),
    (b"{\"to\": \"h\", \"x\": 1}", "unknown field"), (b"{\"to\": \"h:0\"}", "port"),
    (b"{\"to\": \"h:70000\"}", "port"), (b"{\"to\": \"h:12ab\"}", "port"), (b"{\"to\": \"a b\"}", "host"),
    (b"{\"to\": \"[::1\"}", "expected HOST"), (b"{\"to\": \":7443\"}", "host"),
    (b"{\"to\": \"h\", \"downtime_ms\": 0}", "downtime_ms"), (b"{\"to\": \"h\", \"timeout_s\": -1}", "timeout_s"),
    (b"{\"to\": \"h\", \"to\": \"g\"}", "JSON object"),
])
def test_malformed_bodies(running_vm, body, why):
    p, worker = running_vm
    st, r = p.api("POST", "/vms/mv/migrate", body)
    assert st == 400 and why in r["fault_message"], r
    still_running(p, worker)


def test_only_a_running_vm_migrates(petreld, pki):
    p, _ = host(petreld, pki / "ours" / "src")
    assert p.define("off")[0] == 201
    st, r = p.api("POST", "/vms/off/migrate", {"to": "127.0.0.1"})
    assert st == 409 and "not running" in r["fault_message"]
    assert p.api("POST", "/vms/nosuch/migrate", {"to": "127.0.0.1"})[0] == 404
    assert p.api("GET", "/vms/off/migrate")[0] == 405
    assert p.ctl("migrate", "off").returncode == 2   # no --to: usage


def test_without_certificates_petreld_cannot_migrate(petreld):
    p = petreld(jailer=False)
    assert p.define("mv")[0] == 201
    p.stop(signal.SIGKILL)
    w = mgrlib.leave_workers(p, ["mv"])
    try:
        p.start()
        st, r = p.api("POST", "/vms/mv/migrate", {"to": "127.0.0.1"})
        assert st == 400 and "--tls-dir" in r["fault_message"]
        st, r = p.api("POST", "/migrations/incoming", {"definition": {}})
        assert st == 400
    finally:
        w[0].kill()


def test_unreachable_target(running_vm):
    p, worker = running_vm
    port = tlslib.free_port()   # nobody listens there
    r = p.ctl("migrate", "mv", "--to", f"127.0.0.1:{port}")
    assert r.returncode == 1 and "cannot connect" in r.stderr and "keeps running here" in r.stderr, r.stderr
    still_running(p, worker)
    ev = p.api("GET", "/vms/mv")[1]
    assert ev["state"] == "running"


def test_migration_status(running_vm):
    """GET /vms/NAME/migration (the web page's details): none under way, and the last attempt
    with its reason, from the VM's log."""
    p, worker = running_vm
    assert p.api("GET", "/vms/mv/migration") == (200, {"state": "none"})
    port = tlslib.free_port()   # nobody listens there
    assert p.api("POST", "/vms/mv/migrate", {"to": f"127.0.0.1:{port}"}, timeout=60)[0] == 502
    st, r = p.api("GET", "/vms/mv/migration")
    assert st == 200 and r["state"] == "none", r
    last = r["last"]
    assert last["event"] == "migration failed" and last["to"] == f"127.0.0.1:{port}", r
    assert "cannot connect" in last["reason"] and last["time"] > 0, r
    assert p.api("POST", "/vms/mv/migration")[0] == 405
    assert p.api("GET", "/vms/nope/migration")[0] == 404
    still_running(p, worker)


def test_target_refuses_our_certificate(running_vm, petreld, pki):
    p, worker = running_vm
    t, port = host(petreld, pki / "theirs" / "rogue")   # another CA: neither trusts the other
    st, r = p.api("POST", "/vms/mv/migrate", {"to": f"127.0.0.1:{port}"}, timeout=60)
    assert st == 502 and "certificate" in r["fault_message"], r
    still_running(p, worker)
    nothing_on(t)


def test_target_with_a_vm_of_that_name(running_vm, petreld, pki):
    p, worker = running_vm
    t, port = host(petreld, pki / "ours" / "dst")
    assert t.define("mv")[0] == 201
    st, r = p.api("POST", "/vms/mv/migrate", {"to": f"localhost:{port}"}, timeout=60)
    assert st == 409 and "defined here already" in r["fault_message"], r
    still_running(p, worker)
    assert [v["name"] for v in t.api("GET", "/vms")[1]] == ["mv"]


def test_target_name_must_match_its_certificate(running_vm, petreld, pki):
    p, worker = running_vm
    t, port = host(petreld, pki / "ours" / "dst", addr="0.0.0.0")
    # 127.0.0.2 reaches it, but its certificate names 127.0.0.1, localhost and dst
    st, r = p.api("POST", "/vms/mv/migrate", {"to": f"127.0.0.2:{port}"}, timeout=60)
    assert st == 502 and "does not match" in r["fault_message"], r
    still_running(p, worker)
    nothing_on(t)


def test_failure_after_the_target_prepared_leaves_nothing(running_vm, petreld, pki):
    """The target starts a receiving worker; our worker (no guest) refuses to send; the target is
    told to drop it: the VM stays here, nothing stays there."""
    p, worker = running_vm
    t, port = host(petreld, pki / "ours" / "dst")
    ev_src, ev_dst = mgrlib.Events(p.sock), mgrlib.Events(t.sock)
    st, r = p.api("POST", "/vms/mv/migrate", {"to": f"127.0.0.1:{port}"}, timeout=60)
    assert st == 502 and "/migration/send" in r["fault_message"] and "not running" in r["fault_message"], r
    assert "migration failed" == ev_src.wait("mv", "migration failed")["event"]
    ev_dst.wait("mv", "incoming migration failed")
    still_running(p, worker)
    deadline = time.monotonic() + 10
    while t.api("GET", "/vms")[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    nothing_on(t)
    assert not list((t.state / "sock").glob("mv*.sock"))


@pytest.mark.parametrize("jailer", [False, True])
def test_incoming_requests(petreld, pki, jailer):
    t, port = host(petreld, pki / "ours" / "dst", jailer=jailer)
    ctx = tlslib.context(pki / "ours" / "ca.pem", pki / "ours" / "src")
    anon = tlslib.context(pki / "ours" / "ca.pem")
    kernel = str(mgrlib.guest("counter"))
    good = {"boot-source": {"kernel_image_path": kernel}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
            "petrel": {"name": "inc"}}
    addr = ("127.0.0.1", port)
    assert tlslib.request(addr, anon, "POST", "/migrations/incoming", {"definition": good})[0] == 401
    for body, why in [({}, "definition"), ({"definition": good, "extra": 1}, "unknown field"),
                      ({"definition": "x"}, "definition"), ({"definition": good, "timeout_s": 0}, "timeout_s"),
                      ({"definition": {**good, "petrel": {"name": "../x"}}}, "definition:"),
                      ({"definition": {**good, "bogus-section": {}}}, "definition:")]:
        st, r = tlslib.request(addr, ctx, "POST", "/migrations/incoming", body)
        assert st == 400 and why in r["fault_message"], (body, r)
    assert tlslib.request(addr, ctx, "DELETE", "/migrations/incoming/inc")[0] == 404
    assert tlslib.request(addr, ctx, "GET", "/migrations/incoming")[0] == 405
    # a good one: a receiver waits (listed, starting, no definition file), until dropped
    st, r = tlslib.request(addr, ctx, "POST", "/migrations/incoming", {"definition": good}, timeout=60)
    assert st == 200 and r["name"] == "inc" and 0 < r["port"] < 65536, r
    vm = t.api("GET", "/vms/inc")[1]
    assert vm["state"] == "starting" and vm["operation"] == "incoming", vm
    assert not (t.defs / "inc.json").exists()
    st, mig = t.api("GET", "/vms/inc/migration")   # its worker waits to receive it
    assert st == 200 and mig["state"] == "incoming" and "worker" in mig, mig
    if jailer:   # the certificates went into the worker's jail, for its uid alone
        tls = t.jails / "petrel" / "inc" / "root" / "tls"
        assert sorted(f.name for f in tls.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
        assert (tls / "key.pem").stat().st_mode & 0o777 == 0o400
        assert (tls / "key.pem").stat().st_uid != 0
    # a second one of that name, and the lifecycle verbs, are refused meanwhile
    assert tlslib.request(addr, ctx, "POST", "/migrations/incoming", {"definition": good})[0] == 409
    assert t.api("POST", "/vms/inc/start")[0] == 409
    assert t.api("DELETE", "/vms/inc")[0] == 409
    assert tlslib.request(addr, ctx, "DELETE", "/migrations/incoming/inc")[0] == 204
    deadline = time.monotonic() + 15
    while t.api("GET", "/vms")[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    nothing_on(t)


@pytest.mark.parametrize("to, host_, port", [
    ("no-such-host.invalid", "no-such-host.invalid", 7443), ("127.0.0.1", "127.0.0.1", 7443),
    ("127.0.0.1:1", "127.0.0.1", 1), ("[::1]:9", "::1", 9), ("[::1]", "::1", 7443), ("::1", "::1", 7443),
])
def test_target_forms(running_vm, to, host_, port):
    """Each form of --to is understood: the error names the host and port it tried."""
    p, worker = running_vm
    st, r = p.api("POST", "/vms/mv/migrate", {"to": to, "timeout_s": 5}, timeout=60)
    assert st in (400, 502, 504), r   # 400: a name that does not resolve
    shown = f"[{host_}]:{port}" if ":" in host_ else f"{host_}:{port}"
    assert f"migrate to {shown}:" in r["fault_message"], r
    still_running(p, worker)


def test_between_two_network_namespaces(pki_ns, tmp_path):
    """Two "hosts" (network namespaces joined by a veth pair), the target's workers jailed: the
    source reaches the target's listener across the link, the target prepares a jailed receiver
    on its side, our worker (no guest) refuses to send, the target drops it: nothing stays there."""
    from nethelp import two_hosts
    a, b = two_hosts("10.213.38.1", "10.213.38.2")
    started = []
    try:
        src = mgrlib.Petreld(args=["--listen-tcp", "10.213.38.1:7443", "--tls-dir", str(pki_ns / "hosta")],
                             jailer=False, prefix=["nsenter", f"--net=/run/netns/{a.name}"])
        dst = mgrlib.Petreld(args=["--listen-tcp", "10.213.38.2:7443", "--tls-dir", str(pki_ns / "hostb")],
                             prefix=["nsenter", f"--net=/run/netns/{b.name}"])
        started += [src, dst]
        src.start()
        assert src.define("mv")[0] == 201
        src.stop(signal.SIGKILL)
        started += mgrlib.leave_workers(src, ["mv"])
        src.start()
        dst.start()
        ev = mgrlib.Events(dst.sock)
        r = src.ctl("migrate", "mv", "--to", "10.213.38.2", timeout=120)
        assert r.returncode == 1 and "/migration/send" in r.stderr, r.stderr
        e = ev.wait("mv", "incoming migration failed")
        assert e["from"] == "CN=hosta,O=petrel", e
        assert src.api("GET", "/vms/mv")[1]["state"] == "running"
        deadline = time.monotonic() + 15
        while dst.api("GET", "/vms")[1] and time.monotonic() < deadline:
            time.sleep(0.05)
        nothing_on(dst)
        assert not (dst.jails / "petrel" / "mv").exists()
    finally:
        for p in started:
            if isinstance(p, mgrlib.Petreld):
                p.close()
            else:
                p.kill()
        a.close()
        b.close()


@pytest.fixture(scope="module")
def pki_ns(tmp_path_factory):
    return tlslib.make_pki(tmp_path_factory.mktemp("pkins"), "hosta,10.213.38.1", "hostb,10.213.38.2")


@pytest.mark.parametrize("jailer", [False, True])
def test_replica_standby_over_tls(petreld, pki, jailer):
    """petreld's replica verbs take tls: URLs: the standby's worker gets this host's certificates
    (in its jail) and demands the primary's; no KVM needed for a standby that waits."""
    t, _ = host(petreld, pki / "ours" / "dst", jailer=jailer)
    assert t.define("rs")[0] == 201
    port = tlslib.free_port()
    st, r = t.api("POST", "/vms/rs/replica/standby", {"listen_url": f"tls:127.0.0.1:{port}"}, timeout=60)
    assert st == 200, r
    ctx = tlslib.context(pki / "ours" / "ca.pem", pki / "ours" / "src")
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s, \
            ctx.wrap_socket(s, server_hostname="127.0.0.1") as tl:
        assert tl.recv(1) == b"P"    # the standby accepted our certificate
    assert t.api("POST", "/vms/rs/destroy", timeout=60)[0] == 200


def test_replica_over_tls_needs_certificates(petreld):
    p = petreld(jailer=False)
    assert p.define("rs")[0] == 201
    st, r = p.api("POST", "/vms/rs/replica/standby", {"listen_url": "tls:127.0.0.1:1"}, timeout=60)
    assert st >= 400 and "--tls-dir" in r["fault_message"], r
    assert p.api("GET", "/vms/rs")[1]["state"] == "shut off"
