"""The real Linux guest reads the metadata service (docs/mmds.md) with busybox: Firecracker's
MMDS user guide flow (PUT /mmds/config V2 on eth0, PUT /mmds, then in the guest a token from
PUT /latest/api/token and GETs with that token) and its test_mmds.py checks (IMDS listing,
string, JSON with Accept, V2 refusing a GET without a token).

petrel serves the API; the guest's virtio-net interface sits on a tap that carries nothing (MMDS
is answered inside petrel), so this needs root for the tap as well as /dev/kvm. /init
(scripts/guest-init) runs its checks with petrel.mmds=ADDR/PREFIX,MMDS_IP. One real boot
(minutes on a nested PVM host); console in build/linux-mmds-boot.log.
Env: PETREL (binary), PETREL_LINUX_INIT_TIMEOUT / PETREL_LINUX_CHECKS_TIMEOUT.
"""
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import linuxlib
import linuxguest

ROOT = Path(__file__).resolve().parents[2]
import apilib
from nethelp import Tap  # (skips without CAP_NET_ADMIN)

PETREL = Path(os.environ.get("PETREL", ROOT / "build" / "petrel"))
LOG = ROOT / "build" / "linux-mmds-boot.log"
VMLINUX = ROOT / "guest" / "vmlinux"
CMDLINE = [a for a in linuxguest.CMDLINE if not a.startswith("petrel.disk=")]
DATA = {"latest": {"meta-data": {"ami-id": "ami-87654321", "reservation-id": "r-79054aef"}}}


def test_linux_reads_mmds_v2_with_busybox():
    linuxguest.missing_guest()
    assert VMLINUX.is_file(), f"{VMLINUX} missing: run scripts/fetch-guest.sh"
    assert PETREL.is_file() and os.access(PETREL, os.X_OK), f"{PETREL} not built (ninja -C build)"
    tap = Tap()
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-mmds-", dir="/tmp"))
    sock = work / "api.sock"
    argv = [str(PETREL), "--api-sock", str(sock), "--level", "Info"]
    cmdline = " ".join(CMDLINE + ["petrel.mmds=169.254.0.2/16,169.254.169.254"])
    LOG.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    try:
        with open(LOG, "wb") as log:
            proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
            api = apilib.Client(sock)
            try:
                linuxlib.wait_for_socket(sock, proc, con)
                requests = [
                    ("/boot-source", {"kernel_image_path": str(VMLINUX), "initrd_path": str(linuxguest.INITRD),
                                      "boot_args": cmdline}),
                    ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}),
                    ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": tap.name,
                                                  "guest_mac": "06:00:ac:10:00:02"}),
                    ("/mmds/config", {"network_interfaces": ["eth0"], "version": "V2"}),
                    ("/mmds", DATA),
                    ("/actions", {"action_type": "InstanceStart"}),
                ]
                for path, body in requests:
                    r = api.put(path, body)
                    assert r.status == 204, f"PUT {path}: {r}"
                run = linuxlib.run_console(proc, con, start, "hello-mmds")
            finally:
                api.close()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        checks = {k: v for k, (_, v) in run.checks.items()}
        where = linuxlib.assert_healthy(run, proc, con, LOG)
        assert int(checks.get("mmds-token-len", "0")) > 16, f"no token: {checks}" + where
        assert checks.get("mmds-ami-id") == "ami-87654321", f"{checks}" + where
        assert checks.get("mmds-list") == "ami-id,reservation-id", f"{checks}" + where
        assert json.loads(checks.get("mmds-json", "null")) == DATA["latest"], f"{checks}" + where
        assert checks.get("mmds-no-token") == "refused", f"V2 answered without a token: {checks}" + where
    finally:
        tap.close()
        shutil.rmtree(work, ignore_errors=True)
