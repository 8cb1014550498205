"""vCPU hot-plug with the real Linux guest (issue 14): petrel's /hotplug/vcpu through the
stock kernel's ACPI processor hot-plug (CONFIG_ACPI_HOTPLUG_CPU). petrel serves the API with
2 boot vCPUs and max_vcpu_count 4; /init (scripts/guest-init, petrel.vcpu=2) reports the
present and possible CPUs and says it is ready; the host PATCHes vcpu_count 3, the GED's event
makes the guest's ACPI scan notify CPU 2, Linux adds it, /init onlines it (the new vCPU comes
up through INIT/SIPI like an AP at boot) and checks /sys/devices/system/cpu/online, then
offlines it; the host PATCHes vcpu_count 2, Linux ejects the offline CPU (_EJ0) and it leaves
the present mask; GET /hotplug/vcpu follows each step. One real boot (minutes on a nested PVM
host); console in build/linux-hotplug-vcpu-boot.log. Opt-in: PETREL_LINUX_EXTRA=1
(tests/linux/conftest.py). Env: PETREL (binary), PETREL_LINUX_INIT_TIMEOUT /
PETREL_LINUX_CHECKS_TIMEOUT.
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
LOG = ROOT / "build" / "linux-hotplug-vcpu-boot.log"
VMLINUX = ROOT / "guest" / "vmlinux"
BOOT, MAX = 2, 4
CMDLINE = [a for a in linuxguest.CMDLINE if not a.startswith("petrel.disk=")]


def test_linux_adds_and_removes_a_vcpu():
    linuxguest.missing_guest()
    assert VMLINUX.is_file(), f"{VMLINUX} missing: run scripts/fetch-guest.sh"
    assert PETREL.is_file() and os.access(PETREL, os.X_OK), f"{PETREL} not built (ninja -C build)"
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-vcpu-", dir="/tmp"))
    sock = work / "api.sock"
    argv = [str(PETREL), "--api-sock", str(sock), "--level", "Info"]
    cmdline = " ".join(CMDLINE + [f"petrel.vcpu={BOOT}"])
    LOG.parent.mkdir(parents=True, exist_ok=True)
    seen = {}
    start = time.time()
    with open(LOG, "wb") as log:
        proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
        api = apilib.Client(sock)

        def hotplug():
            return api.get("/hotplug/vcpu", check=False).json or {}

        def on_tick(run):
            # host side of the exchange, driven by what the guest printed so far
            if run.value("vcpu-ready") and "add" not in seen:
                t0 = time.monotonic()
                seen["add"] = api.patch("/hotplug/vcpu", {"vcpu_count": BOOT + 1}, check=False).status
                seen["add-ms"] = (time.monotonic() - t0) * 1000
                seen["after-add"] = hotplug()
            if run.value("vcpu-offlined") and "remove" not in seen:
                seen["remove"] = api.patch("/hotplug/vcpu", {"vcpu_count": BOOT}, check=False).status
            if "remove" in seen and "removed" not in seen and hotplug().get("plugged_vcpu_count") == BOOT:
                seen["removed"] = time.time()

        try:
            linuxlib.wait_for_socket(sock, proc, con)
            requests = [
                ("/boot-source", {"kernel_image_path": str(VMLINUX), "initrd_path": str(linuxguest.INITRD),
                                  "boot_args": cmdline}),
                ("/machine-config", {"vcpu_count": BOOT, "mem_size_mib": 512}),
                ("/hotplug/vcpu", {"max_vcpu_count": MAX}),
                ("/actions", {"action_type": "InstanceStart"}),
            ]
            for path, body in requests:
                r = api.put(path, body, check=path != "/hotplug/vcpu")
                assert r.status == 204, f"PUT {path}: {r}"
            run = linuxlib.run_console(proc, con, start, "hello-vcpu", on_tick=on_tick)
        finally:
            api.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    where = linuxlib.assert_healthy(run, proc, con, LOG)
    print(f"hot-add request answered in {seen.get('add-ms', -1):.2f} ms (API round trip)")
    # the MADT's disabled, online-capable entries are possible CPUs
    assert run.value("vcpu-possible") == f"0-{MAX - 1}", f"{run.checks}" + where
    assert run.value("vcpu-present-before") == f"0-{BOOT - 1}", f"{run.checks}" + where
    assert seen.get("add") == 204, f"{seen}" + where
    assert seen["after-add"] == {"max_vcpu_count": MAX, "vcpu_count": BOOT + 1,
                                 "plugged_vcpu_count": BOOT + 1}, f"{seen}" + where
    assert run.value("vcpu-present-added") == f"0-{BOOT}", f"{run.checks}" + where
    assert run.value("vcpu-online-added") == f"0-{BOOT}", f"CPU {BOOT} did not come up: {run.checks}" + where
    assert run.value("vcpu-cpuinfo-added") == str(BOOT + 1), f"{run.checks}" + where
    assert run.value("vcpu-online-offlined") == f"0-{BOOT - 1}", f"{run.checks}" + where
    assert seen.get("remove") == 204, f"{seen}" + where
    assert run.value("vcpu-present-after") == f"0-{BOOT - 1}", f"CPU {BOOT} was not ejected: {run.checks}" + where
    assert "removed" in seen, f"GET never showed {BOOT} plugged vCPUs: {seen}" + where
