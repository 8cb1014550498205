# SPDX-License-Identifier: Apache-2.0
"""Re-adoption at petreld's start (adopt.c), without KVM: real petrel workers (their API up, no
VM booted) left behind by a petreld that died, their run state as petreld writes it. Every live
worker is adopted at once and asked for its state in the background; a pid whose start time does not match is never taken
for the VM (it is reported crashed and the process is left alone)."""
import json
import signal
import subprocess
import time

import mgrlib


def test_adopts_many_workers_and_asks_each():
    p = mgrlib.Petreld(jailer=False).start()
    workers = []
    try:
        names = [f"a{i}" for i in range(40)]
        for n in names + ["stale"]:
            assert p.define(n)[0] == 201
        p.stop(signal.SIGKILL)
        # Saved as paused: only the worker's own answer ("Not started") makes it running.
        workers = mgrlib.leave_workers(p, names, saved_state="paused")
        # A reused pid: a live process whose start time is not the saved one.
        other = subprocess.Popen(["sleep", "60"])
        workers.append(other)
        (p.state / "run" / "stale.json").write_text(json.dumps({
            "pid": other.pid, "start_time": mgrlib.proc_start_time(other.pid) + 1, "vmm_pid": other.pid,
            "api_socket": str(p.state / "sock" / "stale.sock"), "jail_dir": "", "state": "running"}))
        p.start()
        # Adopted before the API answers, the saved state reported until the workers' answers.
        by = {v["name"]: v for v in p.api("GET", "/vms")[1]}
        assert all(by[n]["pid"] == w.pid for n, w in zip(names, workers))
        deadline = time.monotonic() + 30
        while "confirmed by the workers" not in p.log.read_text():
            assert time.monotonic() < deadline, p.log.read_text()
            time.sleep(0.05)
        st, vms = p.api("GET", "/vms")
        by = {v["name"]: v for v in vms}
        for n, w in zip(names, workers):
            assert by[n]["state"] == "running", by[n]
            assert by[n]["pid"] == w.pid
        assert by["stale"]["state"] == "crashed"
        assert "pid" not in by["stale"]
        assert other.poll() is None, "petreld killed a process that was not its worker"
        log = p.log.read_text()
        assert "40 worker(s) adopted, 1 found dead" in log
        # Adopted workers are controllable: destroy ends the real process.
        assert p.api("POST", "/vms/a0/destroy", timeout=30)[0] in (200, 202, 204)
        workers[0].wait(10)
    finally:
        for w in workers:
            w.kill()
        p.close()
