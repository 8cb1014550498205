"""The suite's one real Linux boot: Firecracker's getting-started flow through the REST API, with
every device the Linux tests use, snapshotted at the console prompt for the tests that follow.

petrel starts with just --api-sock (as root: in a network namespace with a tap, netpeer.py); the
microVM is configured with the requests curl would send (PUT /logger, /metrics, /boot-source
with Debian's bzImage, which petrel decompresses and enters through PVH, /machine-config,
/drives/rootfs on an ext4 image, /network-interfaces/eth0, /entropy, /vsock, and for
test_linux_resize.py /balloon, /hotplug/memory and /hotplug/vcpu) and started with PUT
/actions InstanceStart. During the boot it is paused and resumed (PATCH /vm). The guest's /init
(scripts/guest-init, petrel.test=1) checks its environment and devices and prints PETREL-CHECK
lines: all vCPUs seen, the CMOS RTC reads host time, PCI enumeration, the drive as /dev/vda with
a file written through ext4 (read back from the image with debugfs after the power-off),
virtio-rng as the hwrng, virtio-net's MAC and offloads, a ping and 64 KiB each way over one TCP
connection to the host side. At PETREL-READ> the VM is paused and snapshotted (PUT
/snapshot/create) into build/linux-snapshot/; test_linux_restore.py, test_linux_migrate.py and
test_linux_failover.py, test_linux_qcow2.py and test_linux_resize.py start from it instead of booting. Then the typed line comes back, the
UART counted interrupts, the guest powers off, petrel exits 0 and its metrics count the exits.

Real-Linux boots are the suite's budget (minutes where guest ring 0 is emulated): this is the
only one in the default run. linuxlib.py bounds every wait; console in build/linux-api-boot.log.
Env: PETREL (binary), PETREL_LINUX_INIT_TIMEOUT / PETREL_LINUX_CHECKS_TIMEOUT, PETREL_API_SPEC,
PETREL_CMDLINE_EXTRA, PETREL_LINUX_CPUS.
"""
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import linuxguest
import linuxlib  # the console protocol and its deadlines

ROOT = linuxguest.ROOT
import apilib

PETREL = linuxguest.PETREL
LOG = ROOT / "build" / "linux-api-boot.log"
# PETREL_LINUX_CPUS: the boot's vCPUs (default 2; test_linux_resize.py plugs one more)
CPUS, MEM_MIB = int(os.environ.get("PETREL_LINUX_CPUS", "2")), 512
MAX_CPUS, VMEM_MIB = CPUS + 1, 512  # vCPU hot-plug of one more, a 512 MiB virtio-mem region
DISK_MIB = 64
INPUT_LINE = "hello-petrel-api"
RTC_TOLERANCE_S = 120  # RTC vs host clock when the line arrives; a frozen RTC drifts past it
# The snapshot taken at the guest's console prompt, and the drive it refers to (kept with it).
SNAP_DIR = ROOT / "build" / "linux-snapshot"
SNAP_STATE, SNAP_MEM, DISK = SNAP_DIR / "vm.state", SNAP_DIR / "vm.mem", SNAP_DIR / "rootfs.img"
# The vsock device's Unix socket (restores reuse it or override it): in /tmp, not beside the
# snapshot, because the build directory may be on a file system without Unix sockets (9p).
VSOCK = Path(tempfile.gettempdir()) / f"petrel-linux-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]}-v.sock"


def require_snapshot():
    """For the tests that start from this test's snapshot (they run after it, in file order)."""
    assert SNAP_STATE.is_file() and SNAP_MEM.is_file(), \
        "no snapshot from test_linux_api.py (it must run first and pass)"


def snapshot_has_net():
    """Whether the snapshot's VM has the virtio-net interface (the boot had a netpeer)."""
    return (SNAP_DIR / "has-net").exists()


@contextlib.contextmanager
def loaded_at_prompt(netpeer, work, log_path, **more):
    """A `petrel --api-sock` (beside the network peer when the snapshot has a network) that has
    loaded this test's snapshot through the API, resumed, with a vsock socket of its own in
    work; more: further fields of the load request. Yields (proc, con, api, start time);
    kills petrel if it still runs afterwards."""
    sock = work / "api.sock"
    argv = linuxguest.api_argv(sock, netpeer if netpeer and snapshot_has_net() else None)
    with open(log_path, "wb") as log:
        t0 = time.time()
        proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
        api = apilib.Client(sock)
        try:
            linuxlib.wait_for_socket(sock, proc, con)
            linuxlib.load_snapshot(api, SNAP_STATE, SNAP_MEM, vsock_override={"uds_path": str(work / "v.sock")},
                                   **more)
            yield proc, con, api, t0
        finally:
            api.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_linux_getting_started_through_the_api(netpeer):
    linuxguest.missing_guest()
    assert PETREL.is_file() and os.access(PETREL, os.X_OK), f"{PETREL} not built (ninja -C build)"
    apilib.spec()  # the responses are checked against it

    work = Path(tempfile.mkdtemp(prefix="petrel-linux-api-", dir="/tmp"))
    SNAP_DIR.mkdir(parents=True, exist_ok=True)
    for f in (SNAP_STATE, SNAP_MEM, SNAP_DIR / "has-net"):
        f.unlink(missing_ok=True)
    linuxguest.make_ext4(DISK, DISK_MIB)
    sock, metrics = work / "api.sock", work / "metrics.json"
    # memory the virtio_mem driver plugs goes online by itself, movable (so it can go again)
    cmdline = linuxguest.CMDLINE + ["memhp_default_state=online_movable"] + \
        os.environ.get("PETREL_CMDLINE_EXTRA", "").split()
    argv = [str(PETREL), "--api-sock", str(sock), "--level", "Info", "--show-level"]
    requests = [
        ("/logger", {"level": "Info", "show_level": True}),
        ("/metrics", {"metrics_path": str(metrics)}),
        ("/boot-source", {"kernel_image_path": str(linuxguest.KERNEL), "initrd_path": str(linuxguest.INITRD),
                          "boot_args": " ".join(cmdline + ([netpeer.cmdline_arg()] if netpeer else []))}),
        ("/machine-config", {"vcpu_count": CPUS, "mem_size_mib": MEM_MIB}),
        ("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(DISK), "is_root_device": True,
                            "is_read_only": False}),
        ("/entropy", {}),
        ("/vsock", {"guest_cid": 3, "uds_path": str(VSOCK)}),
        # for test_linux_resize.py, which restores this VM and resizes it
        ("/balloon", {"amount_mib": 0, "deflate_on_oom": False, "stats_polling_interval_s": 0}),
        ("/hotplug/memory", {"total_size_mib": VMEM_MIB}),
        ("/hotplug/vcpu", {"max_vcpu_count": MAX_CPUS}),
    ]
    if netpeer:  # petrel runs in the namespace that holds the tap
        argv = netpeer.argv_prefix() + argv
        requests.append(("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": netpeer.TAP,
                                                      "guest_mac": netpeer.MAC}))
    requests.append(("/actions", {"action_type": "InstanceStart"}))
    LOG.parent.mkdir(parents=True, exist_ok=True)

    snapshots = []
    start = time.time()
    paused = False
    with open(LOG, "wb") as log:
        proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
        api = apilib.Client(sock)
        try:
            linuxlib.wait_for_socket(sock, proc, con)
            assert api.get("/").json["state"] == "Not started"
            for path, body in requests:
                r = api.put(path, body, check=path != "/hotplug/vcpu")  # petrel's extension
                assert r.status == 204, f"PUT {path}: {r}"
            assert api.get("/").json["state"] == "Running"
            booted_at = time.time()

            def pause_once(run):
                """Once, early in the kernel's boot: pause for two seconds, then resume."""
                nonlocal paused
                if paused or time.time() - booted_at <= 5 or proc.poll() is not None:
                    return
                paused = True
                assert api.patch("/vm", {"state": "Paused"}).status == 204
                assert api.get("/").json["state"] == "Paused"
                time.sleep(2)
                assert api.patch("/vm", {"state": "Resumed"}).status == 204
                assert api.get("/").json["state"] == "Running"

            def snapshot_at_prompt(run):
                """The guest waits for its console line: snapshot it there (paused), for the
                tests that follow, then let it go on."""
                assert api.patch("/vm", {"state": "Paused"}).status == 204
                r = api.put("/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(SNAP_STATE),
                                                 "mem_file_path": str(SNAP_MEM)})
                snapshots.append(r)
                if netpeer:
                    (SNAP_DIR / "has-net").touch()
                assert api.patch("/vm", {"state": "Resumed"}).status == 204

            run = linuxlib.run_console(proc, con, start, INPUT_LINE, on_tick=pause_once,
                                       on_prompt=snapshot_at_prompt)
        finally:
            api.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        log.write(f"\n# petrel exit status {proc.returncode} after {time.time() - start:.1f}s\n".encode())
    print(f"console log: {LOG}; boot + checks took {run.elapsed:.1f}s; checks: "
          + ", ".join(f"{k}={v}" for k, (_, v) in run.checks.items()))

    checks = {k: v for k, (_, v) in run.checks.items()}
    try:
        where = linuxlib.assert_healthy(run, proc, con, LOG)
        assert paused, "the VM was never paused and resumed" + where
        assert snapshots and snapshots[0].status == 204, f"snapshot at the prompt: {snapshots}" + where
        assert checks.get("cpus") == str(CPUS), f"guest sees {checks.get('cpus')} CPUs" + where
        assert "rtc" in run.checks and checks["rtc"] != "none", "guest has no RTC (rtc0)" + where
        when, rtc = run.checks["rtc"]
        assert abs(int(rtc) - when) <= RTC_TOLERANCE_S, \
            f"guest RTC reads {rtc}, {int(rtc) - when:+.0f}s from the host clock when it was printed" + where
        assert run.read and run.echo == INPUT_LINE, f"guest echoed {run.echo!r}" + where
        assert run.done is not None, "guest did not finish its checks" + where
        assert run.rc == 0, f"petrel exited {run.rc} after the guest powered off, expected 0" + where
        # The 8250 is interrupt driven, not polled: its IRQ line counted interrupts.
        irqs = checks.get("serial-irqs", "0")
        assert irqs.isdigit() and int(irqs) > 0, f"ttyS0 took {irqs} interrupts: the UART is polled" + where

        # virtio: PCI enumeration, the disk and the file written through ext4, the rng.
        pci = checks.get("pci-devices", "0")
        assert pci.isdigit() and int(pci) >= 3, f"guest sees {pci} PCI functions (bridge, blk, rng)" + where
        assert checks.get("disk") == "vda", "the drive did not show up as /dev/vda" + where
        assert checks.get("disk-sectors") == str((DISK_MIB << 20) // 512), \
            f"/dev/vda has {checks.get('disk-sectors')} sectors" + where
        want = hashlib.sha256(linuxguest.DISK_CONTENT).hexdigest()
        assert checks.get("disk-file-sha256") == want, \
            f"guest wrote a file with sha256 {checks.get('disk-file-sha256')}, expected {want}" + where
        data = linuxguest.read_back(DISK, linuxguest.DISK_FILE)
        assert hashlib.sha256(data).hexdigest() == want, \
            f"{linuxguest.DISK_FILE} in the image after power-off: {len(data)} bytes, not what was written" + where
        assert checks.get("hwrng", "none").startswith("virtio_rng"), \
            f"guest hwrng is {checks.get('hwrng')}, expected virtio_rng" + where
        rng = checks.get("hwrng-bytes", "")
        assert len(rng) == 32 and len(set(rng)) > 4, f"/dev/hwrng gave {rng!r}" + where

        # virtio-net: the MAC, offloads and mergeable buffers negotiated, a ping to the host side
        # of the tap, and 64 KiB each way over one TCP connection (busybox nc).
        if netpeer:
            assert checks.get("net-mac") == netpeer.MAC, f"guest interface MAC {checks.get('net-mac')}" + where
            bits = checks.get("net-features", "")
            for bit, name in ((0, "CSUM"), (1, "GUEST_CSUM"), (7, "GUEST_TSO4"), (11, "HOST_TSO4"),
                              (15, "MRG_RXBUF"), (16, "STATUS")):
                assert len(bits) > bit and bits[bit] == "1", f"virtio-net {name} not negotiated: {bits}" + where
            netpeer.check(checks, "net", where)

        assert not sock.exists(), "the API socket was left behind"
        last = json.loads(metrics.read_text().splitlines()[-1])  # written at exit
        assert last["exits"]["io-out"]["count"] > 0 and last["uart"]["tx_bytes"] > 0, last
        assert "block_rootfs" in last, last
    finally:
        shutil.rmtree(work, ignore_errors=True)
