"""The real Linux guest moves between two "hosts" while it runs: two network namespaces joined by
a veth pair, one petrel in each (hostpair.py). The source loads the snapshot test_linux_api.py
took at the guest's console prompt (no boot: a restore takes milliseconds) and resumes it; the
destination receives it over TCP across the veth (PUT /migration/receive, then /migration/send
on the source). The source must exit 0 once the destination runs the guest; the guest then
answers on the destination's console as if nothing had happened: it reads the typed line,
echoes it, uses virtio-rng and virtio-blk again, sleeps on a timer and powers off; petrel exits
0. The drive is shared storage (the same path on both hosts).

Runs after test_linux_api.py (file order); fails if that test left no snapshot.
Consoles in build/linux-migrate-{source,destination}.log."""
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import hostpair
import linuxlib
import test_linux_api as linux_api

INPUT_LINE = "restored-by-migration"  # "restored...": /init uses its devices again
PORT = 47139
# Generous: on a PVM host the guest's ring 0 is emulated and every page the guest touches
# while the copy runs is sent again.
MIGRATION_TIMEOUT_S = 10 * 60


def test_linux_migrates_between_namespaces_and_answers_on_the_destination():
    linux_api.require_snapshot()
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-mig-", dir="/tmp"))
    hosts = []
    try:
        with hostpair.two_hosts() as (a, b):
            src = hostpair.HostPetrel(a, work / "src.sock", "migrate-source")
            hosts.append(src)
            dst = hostpair.HostPetrel(b, work / "dst.sock", "migrate-destination")
            hosts.append(dst)
            linuxlib.load_snapshot(src.api, linux_api.SNAP_STATE, linux_api.SNAP_MEM)
            url = f"tcp:{hostpair.IP_B}:{PORT}"
            r = dst.api.put("/migration/receive", {"receiver_url": url}, check=False)
            assert r.status == 204, f"migration receive: {r}"
            t0 = time.time()
            r = src.api.put("/migration/send", {"destination_url": url}, check=False)
            assert r.status == 204, f"migration send: {r}"
            st = hostpair.wait_for(dst, "/migration", lambda s: s.get("state") in ("completed", "failed"),
                                   hosts, MIGRATION_TIMEOUT_S)
            assert st.get("state") == "completed", \
                f"destination: {st}; source: {src.api.get('/migration', check=False).json}" \
                f"\n--- source ---\n{src.con.tail()}\n--- destination ---\n{dst.con.tail()}"
            print(f"migrated in {time.time() - t0:.2f} s: downtime {st.get('downtime_ms')} ms, "
                  f"total {st.get('total_ms')} ms, {st.get('bytes_sent')} bytes sent")
            try:
                src_rc = src.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                src_rc = None
            assert src_rc == 0, f"the source did not exit 0 after the switch: {src_rc}\n{src.con.tail()}"
            assert dst.api.get("/").json["state"] == "Running"
            run = linuxlib.run_console(dst.proc, dst.con, time.time(), INPUT_LINE, restored=True,
                                       checks_timeout=10 * 60)
            linuxlib.assert_goes_on_from_the_prompt(run, dst.proc, dst.con, dst.log_path, INPUT_LINE,
                                                    after="migration")
    finally:
        for h in hosts:
            h.close()
        shutil.rmtree(work, ignore_errors=True)
