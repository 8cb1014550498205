"""The real Linux guest survives the death of its host: the primary petrel (namespace A) loads
the snapshot test_linux_api.py took at the guest's console prompt and replicates it to a
standby petrel (namespace B) over TCP across a veth (PUT /replication; the drive mirrored to the
standby's own image). Once both say protected and a few checkpoints went over, the primary is
killed with SIGKILL. The standby must take over by itself (state active, the VM running), and
the guest then answers on the standby's console from its last checkpoint: it reads the typed
line, echoes it, uses virtio-rng and virtio-blk (reading its mirrored disk), sleeps on a timer,
talks to the host over vsock (the standby's own Unix socket, vsock_override) and powers off;
petrel exits 0.

Runs after test_linux_api.py (file order); fails if that test left no snapshot.
Consoles in build/linux-failover-{primary,standby}.log."""
import shutil
import tempfile
import time
from pathlib import Path

import hostpair
import linuxlib
import test_linux_api as linux_api
from netpeer import VsockPeer

INPUT_LINE = "restored-by-failover+vsock"  # "restored...": /init uses its devices again
PORT = 47141
# The initial sync copies 512 MiB of guest memory and the drive; on a PVM host the guest's
# ring 0 is emulated, and every checkpoint pauses it.
PROTECT_TIMEOUT_S = 10 * 60


def test_linux_fails_over_to_the_standby_and_answers_there():
    linux_api.require_snapshot()
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-ha-", dir="/tmp"))
    copy = work / "standby-rootfs.img"
    copy.write_bytes(b"")
    hosts = []
    try:
        with hostpair.two_hosts() as (a, b):
            pri = hostpair.HostPetrel(a, work / "p.sock", "failover-primary")
            hosts.append(pri)
            sb = hostpair.HostPetrel(b, work / "s.sock", "failover-standby")
            hosts.append(sb)
            linuxlib.load_snapshot(pri.api, linux_api.SNAP_STATE, linux_api.SNAP_MEM)
            url = f"tcp:{hostpair.IP_B}:{PORT}"
            vsock = VsockPeer(work / "sb-v.sock")  # the standby's own vsock socket
            r = sb.api.put("/replication", {"role": "standby", "listen_url": url, "failure_timeout_ms": 2000,
                                            "vsock_override": {"uds_path": str(work / "sb-v.sock")},
                                            "drive_overrides": [{"drive_id": "rootfs",
                                                                 "path_on_host": str(copy)}]}, check=False)
            assert r.status == 204, f"standby: {r}"
            r = pri.api.put("/replication", {"role": "primary", "peer_url": url, "checkpoint_interval_ms": 100,
                                             "failure_timeout_ms": 2000}, check=False)
            assert r.status == 204, f"primary: {r}"
            st = hostpair.wait_for(pri, "/replication", lambda s: s.get("state") in ("unprotected", "stopped") or
                                   (s.get("state") == "protected" and s.get("checkpoints", 0) >= 3),
                                   hosts, PROTECT_TIMEOUT_S)
            assert st.get("state") == "protected" and st.get("checkpoints", 0) >= 3, \
                f"primary: {st}; standby: {sb.api.get('/replication', check=False).json}" \
                f"\n--- primary ---\n{pri.con.tail()}\n--- standby ---\n{sb.con.tail()}"
            print(f"protected: {st.get('checkpoints')} checkpoints, last pause {st.get('last_pause_us')} us, "
                  f"{st.get('mean_checkpoint_bytes')} bytes per checkpoint")
            t0 = time.time()
            pri.proc.kill()
            pri.proc.wait()
            st = hostpair.wait_for(sb, "/replication", lambda s: s.get("state") == "active", [sb], 30)
            assert st.get("state") == "active", f"standby did not take over: {st}\n{sb.con.tail()}"
            print(f"standby active {(time.time() - t0) * 1000:.0f} ms after the SIGKILL")
            assert sb.api.get("/").json["state"] == "Running"
            run = linuxlib.run_console(sb.proc, sb.con, time.time(), INPUT_LINE, restored=True,
                                       checks_timeout=10 * 60)
            where = linuxlib.assert_goes_on_from_the_prompt(run, sb.proc, sb.con, sb.log_path, INPUT_LINE,
                                                            after="failover")
            vsock.check({k: v for k, (_, v) in run.checks.items()}, where)
            vsock.close()
    finally:
        for h in hosts:
            h.close()
        shutil.rmtree(work, ignore_errors=True)
