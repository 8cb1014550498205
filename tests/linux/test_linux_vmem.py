"""Memory hot-plug with the real Linux guest (issue 14): Firecracker's /hotplug/memory flow.
petrel serves the API with a 1 GiB virtio-mem region configured; the guest's own virtio_mem
module (scripts/fetch-guest.sh carries it) drives the device and the kernel onlines what it
plugs (memhp_default_state=online_movable). /init (scripts/guest-init, petrel.vmem=256)
reports MemTotal and says it is ready; the host PATCHes requested_size_mib 256 and waits for
GET's plugged_size_mib, the guest sees MemTotal grow by it; the host PATCHes 0, the guest
unplugs and MemTotal goes back, and petrel's RSS must not have grown meanwhile (what was
unplugged went back to the host). One real boot (minutes on a nested PVM host); console in
build/linux-vmem-boot.log. Opt-in: PETREL_LINUX_EXTRA=1 (tests/linux/conftest.py).
Env: PETREL (binary), PETREL_LINUX_INIT_TIMEOUT / PETREL_LINUX_CHECKS_TIMEOUT.
"""
import os
import tempfile
import time
from pathlib import Path

import linuxlib
import linuxguest

ROOT = Path(__file__).resolve().parents[2]
import apilib

PETREL = Path(os.environ.get("PETREL", ROOT / "build" / "petrel"))
LOG = ROOT / "build" / "linux-vmem-boot.log"
VMLINUX = ROOT / "guest" / "vmlinux"
PLUG_MIB = 256
CMDLINE = [a for a in linuxguest.CMDLINE if not a.startswith("petrel.disk=")]


def test_linux_plugs_and_unplugs_256_mib():
    linuxguest.missing_guest()
    assert VMLINUX.is_file(), f"{VMLINUX} missing: run scripts/fetch-guest.sh"
    assert PETREL.is_file() and os.access(PETREL, os.X_OK), f"{PETREL} not built (ninja -C build)"
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-vmem-", dir="/tmp"))
    sock = work / "api.sock"
    argv = [str(PETREL), "--api-sock", str(sock), "--level", "Info"]
    cmdline = " ".join(CMDLINE + [f"petrel.vmem={PLUG_MIB}", "memhp_default_state=online_movable"])
    LOG.parent.mkdir(parents=True, exist_ok=True)
    seen = {}
    start = time.time()
    with open(LOG, "wb") as log:
        proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
        api = apilib.Client(sock)

        def on_tick(run):
            # host side of the exchange, driven by what the guest printed so far
            if run.value("vmem-ready") and "plug" not in seen:
                seen["plug"] = api.patch("/hotplug/memory", {"requested_size_mib": PLUG_MIB}).status
            if "plug" in seen and "plugged" not in seen:
                got = api.get("/hotplug/memory").json or {}
                if got.get("plugged_size_mib") == PLUG_MIB:
                    seen["plugged"] = time.time()
            if run.value("vmem-plugged-kib") and "unplug" not in seen:
                seen["rss-plugged"] = linuxlib.rss_kib(proc.pid)
                seen["unplug"] = api.patch("/hotplug/memory", {"requested_size_mib": 0}).status
            if "unplug" in seen and "unplugged" not in seen:
                got = api.get("/hotplug/memory").json or {}
                if got.get("plugged_size_mib") == 0:
                    seen["unplugged"] = time.time()
                    seen["rss-unplugged"] = linuxlib.rss_kib(proc.pid)

        try:
            linuxlib.wait_for_socket(sock, proc, con)
            requests = [
                ("/boot-source", {"kernel_image_path": str(VMLINUX), "initrd_path": str(linuxguest.INITRD),
                                  "boot_args": cmdline}),
                ("/machine-config", {"vcpu_count": 2, "mem_size_mib": 512}),
                ("/hotplug/memory", {"total_size_mib": 1024}),
                ("/actions", {"action_type": "InstanceStart"}),
            ]
            for path, body in requests:
                r = api.put(path, body)
                assert r.status == 204, f"PUT {path}: {r}"
            run = linuxlib.run_console(proc, con, start, "hello-vmem", on_tick=on_tick)
        finally:
            api.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    where = linuxlib.assert_healthy(run, proc, con, LOG)
    before = int(run.value("vmem-before-kib", "0"))
    plugged = int(run.value("vmem-plugged-kib", "0"))
    unplugged = int(run.value("vmem-unplugged-kib", "0"))
    assert seen.get("plug") == 204 and seen.get("unplug") == 204, f"{seen}" + where
    assert "plugged" in seen, f"GET never showed {PLUG_MIB} MiB plugged: {seen}" + where
    assert plugged - before >= PLUG_MIB * 1024 * 9 // 10, f"MemTotal {before} -> {plugged} KiB" + where
    assert unplugged - before <= PLUG_MIB * 1024 // 10, f"MemTotal {plugged} -> {unplugged} KiB" + where
    assert "unplugged" in seen, f"GET never showed 0 MiB plugged: {seen}" + where
    assert seen["rss-unplugged"] <= seen["rss-plugged"] + 16 * 1024, f"host RSS {seen}" + where
