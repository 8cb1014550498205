"""The real Linux guest loaded from a snapshot instead of booted, from the command line: the
snapshot test_linux_api.py took while /init waited at its console prompt is restored with
`petrel run --restore STATE --mem-file MEM` (no API) and the guest goes on from the prompt: it
reads the typed line, echoes it, uses its devices again (virtio-rng and virtio-blk through their
queues, a timer sleep), opens a vsock connection to the host (a line each way through
petrel's Unix socket for port 5000) and, when the boot had a network, talks over it again: a fresh peer in a
namespace of its own stands where the boot's stood (same tap name, addresses and MAC), and the
guest pings it and sends and receives 64 KiB over a new TCP connection. Then it powers off and
petrel exits 0. A restore takes milliseconds where a boot takes minutes on a nested host.

Runs after test_linux_api.py (file order); fails if that test left no snapshot.
Console in build/linux-restore.log."""
import time

import linuxguest
import linuxlib
import test_linux_api as linux_api
from netpeer import VsockPeer

LOG = linuxguest.ROOT / "build" / "linux-restore.log"


def test_linux_restores_from_a_snapshot_at_its_prompt(netpeer):
    linux_api.require_snapshot()
    net = bool(netpeer) and linux_api.snapshot_has_net()
    line = "restored-from-snapshot+vsock" + ("+net" if net else "")
    vsock = VsockPeer(linux_api.VSOCK)
    argv = [str(linuxguest.PETREL), "run", "--restore", str(linux_api.SNAP_STATE),
            "--mem-file", str(linux_api.SNAP_MEM), "--level", "Info"]
    if net:
        argv = netpeer.argv_prefix() + argv
    with open(LOG, "wb") as log:
        t0 = time.time()
        proc, con = linuxlib.spawn(argv, log, cwd=linuxguest.ROOT)
        try:
            run = linuxlib.run_console(proc, con, t0, line, restored=True, checks_timeout=10 * 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            vsock.close()
    print(f"restored, went on and powered off in {run.elapsed:.1f} s")
    where = linuxlib.assert_goes_on_from_the_prompt(run, proc, con, LOG, line)
    # petrel's VMGenID device and GED in the DSDT, found by Linux
    assert run.value("restored-acpi-genid") == "2", \
        f"ACPI VMGENCTR + ACPI0013 devices after restore: {run.value('restored-acpi-genid')}" + where
    checks = {k: v for k, (_, v) in run.checks.items()}
    vsock.check(checks, where)
    if net:
        netpeer.check(checks, "restored-net", where)
