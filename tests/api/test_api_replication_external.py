# SPDX-License-Identifier: Apache-2.0
"""External takeover (docs/high-availability.md, "Failover decided by a cluster"): a standby
with "takeover": "external" never runs the guest by itself. Its primary killed, it holds the
last complete checkpoint and says primary-lost until PATCH /replication {"action": "promote"};
then the counting guest goes on with the next count and no console output lost. Refusals (no
checkpoint yet, a primary, a second promotion, a bad body) say why and change nothing."""
import signal
import subprocess
import time

import pytest

import apilib
import failover_console
from test_api_migration import GEN, gens
from test_api_replication import boot, repl, wait_checkpoints, wait_repl


def promote(api):
    return api.patch("/replication", {"action": "promote"}, check=False)


def test_external_standby_requests_checked(petrel, api, workdir):
    r = promote(api)
    assert r.status == 400 and "not replicating" in r.fault, r
    for body, msg in (({"action": "demote"}, "action"), ({}, "action"), ({"action": "promote", "x": 1}, "x")):
        r = api.patch("/replication", body, check=False)
        assert r.status == 400 and msg in r.fault, (body, r)
    url = f"unix:{workdir / 'repl.sock'}"
    r = api.put("/replication", {"role": "standby", "listen_url": url, "takeover": "sometimes"}, check=False)
    assert r.status == 400 and "takeover" in r.fault, r
    assert repl(api) == {"role": "none"}
    r = api.put("/replication", {"role": "standby", "listen_url": url, "takeover": "external"}, check=False)
    assert r.status == 204, r
    st = repl(api)
    assert st["state"] == "waiting" and st["takeover"] == "external" and st["promoting"] is False, st
    # Nothing to run yet: refused, and the standby waits on.
    r = promote(api)
    assert r.status == 400 and "no complete checkpoint" in r.fault, r
    st = repl(api)
    assert st["state"] == "waiting" and st["promoting"] is False, st
    assert api.get("/").json["state"] == "Not started"


def test_cli_external_standby_is_promoted_by_a_signal(workdir):
    """petrel run --standby URL --takeover external: promoted by SIGRTMIN; refused (and said
    why) while it has nothing to run, and it waits on."""
    url = f"unix:{workdir / 'cli.sock'}"
    proc = subprocess.Popen([str(apilib.petrel_bin()), "run", "--standby", url, "--takeover", "external"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not (workdir / "cli.sock").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.01)
        proc.send_signal(signal.SIGRTMIN)
        time.sleep(0.3)
        assert proc.poll() is None  # the signal does not kill it
        proc.terminate()
        out, err = proc.communicate(timeout=10)
        assert "external takeover" in err and "not promoted: the standby has no complete checkpoint" in err, err
        assert proc.returncode in (0, -signal.SIGTERM), err  # ended by the signal, as any petrel
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_takeover_option_is_refused():
    r = subprocess.run([str(apilib.petrel_bin()), "run", "--standby", "unix:/tmp/x", "--takeover", "maybe"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--takeover" in r.stderr, r.stderr
    r = subprocess.run([str(apilib.petrel_bin()), "run", "--kernel", "/x", "--takeover", "external"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "--takeover" in r.stderr, r.stderr


def external_pair(petrel, api, workdir, timeout=500):
    boot(petrel, api)
    d = workdir / "standby"
    d.mkdir()
    sb = apilib.Petrel(d)
    url = f"unix:{workdir / 'repl.sock'}"
    r = sb.client().put("/replication", {"role": "standby", "listen_url": url, "failure_timeout_ms": timeout,
                                         "takeover": "external"}, check=False)
    assert r.status == 204, r
    r = api.put("/replication", {"role": "primary", "peer_url": url, "checkpoint_interval_ms": 50,
                                 "failure_timeout_ms": 500}, check=False)
    assert r.status == 204, r
    wait_repl(api, "protected")
    wait_repl(sb.client(), "protected")
    return sb


def test_killed_primary_is_not_taken_over_until_promoted(petrel, api, workdir):
    sb = external_pair(petrel, api, workdir)
    try:
        sapi = sb.client()
        wait_checkpoints(api, 4)
        r = promote(api)
        assert r.status == 400 and "primary" in r.fault, r
        petrel.proc.kill()
        petrel.wait()
        st = wait_repl(sapi, "primary-lost", timeout=10)
        assert "stream ended" in st["reason"], st
        time.sleep(1.5)  # three failure timeouts
        st = repl(sapi)
        assert st["state"] == "primary-lost", st
        assert sapi.get("/").json["state"] == "Not started"
        assert not sb.lines(GEN), sb.describe()  # the guest has not run a step here
        seen = petrel.out.text()
        last = max(gens(petrel))
        r = promote(sapi)
        assert r.status == 204, r
        st = repl(sapi)
        assert st["state"] == "active" and st["generation"] == 2 and st["failover_ms"] >= 0, st
        assert "promoted" in st["reason"], st
        assert sapi.get("/").json["state"] == "Running"
        sb.expect(rf"^gen={last + 2} ok$")
        failover_console.join(seen, sb.out.text(), GEN)
        r = promote(sapi)
        assert r.status == 400 and "already promoted" in r.fault, r
    finally:
        sb.close()


def test_promotion_while_the_primary_is_silent(petrel, api, workdir):
    """The cluster fenced the primary's host: its stream is silent, not ended, and the standby's
    failure timeout (60 s here) has not run out. The promotion does not wait for it."""
    sb = external_pair(petrel, api, workdir, timeout=60000)
    try:
        sapi = sb.client()
        wait_checkpoints(api, 4)
        petrel.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(0.2)
            seen = petrel.out.text()
            last = max(gens(petrel))
            assert repl(sapi)["state"] == "protected"
            r = promote(sapi)
            assert r.status == 204, r
            st = repl(sapi)
            assert st["state"] == "active" and "still open" in st["reason"], st
            sb.expect(rf"^gen={last + 2} ok$")
            failover_console.join(seen, sb.out.text(), GEN)
        finally:
            petrel.proc.kill()
    finally:
        sb.close()
