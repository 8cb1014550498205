"""The real Linux `e1000` driver on petrel's emulated Intel 82540EM (docs/e1000.md).

Debian's cloud kernel (guest/) is built without CONFIG_E1000, so this boots the generic kernel
of the same version with its e1000.ko (guest-generic/, scripts/fetch-guest-generic.sh) and the
same /init (scripts/guest-init). The one network interface is `"model": "e1000"` on a tap in a
network namespace of its own (netpeer.py, petrel-e1k-PID), petrel running in that namespace.
With petrel.net=... /init reports the driver bound to the interface and its carrier, adds the
address, pings the host and sends 64 KiB of random data over one TCP connection, reading the
host's 48 KiB answer; both sides' sizes and SHA-256 sums are compared here.

Needs /dev/kvm and root (the tap). One extra real boot (tests/linux/conftest.py EXTRA_BOOTS):
run by scripts/linux-extra.sh. Console in build/linux-e1000-boot.log.
Env: PETREL (binary), PETREL_LINUX_INIT_TIMEOUT / PETREL_LINUX_CHECKS_TIMEOUT.
"""
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

import linuxguest
import linuxlib
from netpeer import NetPeer

ROOT = linuxguest.ROOT
import apilib

PETREL = linuxguest.PETREL
GENERIC = ROOT / "guest-generic"
VMLINUX, INITRD = GENERIC / "vmlinux", GENERIC / "initramfs.cpio"
LOG = ROOT / "build" / "linux-e1000-boot.log"
CMDLINE = [a for a in linuxguest.CMDLINE if not a.startswith("petrel.disk=")]


def missing_generic_guest():
    missing = [str(p.relative_to(ROOT)) for p in (VMLINUX, INITRD) if not p.is_file()]
    if not missing:
        return
    msg = f"generic guest missing ({', '.join(missing)}): run scripts/fetch-guest-generic.sh"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def test_linux_e1000_driver_link_ping_and_tcp_both_ways():
    missing_generic_guest()
    assert PETREL.is_file() and os.access(PETREL, os.X_OK), f"{PETREL} not built (ninja -C build)"
    peer = NetPeer.start(name="e1k")
    if peer is None:
        pytest.skip("needs root and /dev/net/tun for the tap")
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-e1000-", dir="/tmp"))
    sock = work / "api.sock"
    argv = peer.argv_prefix() + [str(PETREL), "--api-sock", str(sock), "--level", "Info"]
    LOG.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    try:
        with open(LOG, "wb") as log:
            proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
            api = apilib.Client(sock)
            try:
                linuxlib.wait_for_socket(sock, proc, con)
                requests = [
                    ("/boot-source", {"kernel_image_path": str(VMLINUX), "initrd_path": str(INITRD),
                                      "boot_args": " ".join(CMDLINE + [peer.cmdline_arg()])}),
                    ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}),
                    ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": peer.TAP,
                                                  "guest_mac": peer.MAC, "model": "e1000"}),
                    ("/actions", {"action_type": "InstanceStart"}),
                ]
                for path, body in requests:
                    r = api.put(path, body)
                    assert r.status == 204, f"PUT {path}: {r}"
                run = linuxlib.run_console(proc, con, start, "hello-e1000")
            finally:
                api.close()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        checks = {k: v for k, (_, v) in run.checks.items()}
        where = linuxlib.assert_healthy(run, proc, con, LOG)
        modules = checks.get("modules", "0/1").split("/")
        assert modules[0] == modules[1], f"not every module loaded (e1000.ko among them): {checks}" + where
        assert checks.get("net-driver") == "e1000", f"the e1000 driver did not bind: {checks}" + where
        assert checks.get("net-mac") == peer.MAC, f"MAC from the EEPROM: {checks.get('net-mac')}" + where
        assert checks.get("net-carrier") == "1", f"the e1000 driver saw no link: {checks}" + where
        peer.check(checks, "net", where)  # ping; the SHA-256 of both directions on both sides
        assert len(peer.got) == 64 * 1024, f"host got {len(peer.got)} bytes, the guest sends 65536" + where
        assert checks.get("net-rx-bytes") == str(len(peer.sent)), \
            f"guest read {checks.get('net-rx-bytes')} bytes, the host sent {len(peer.sent)}" + where
        assert hashlib.sha256(peer.sent).hexdigest() == checks.get("net-rx-sha256")
    finally:
        peer.close()
        shutil.rmtree(work, ignore_errors=True)
