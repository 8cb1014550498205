"""The Debian cloud template and cloud-init's NoCloud seed in a real guest (issue 55).

petreld defines a VM on a qcow2 overlay of the template (scripts/mkimage.sh debian-cloud; the
overlay 3 GiB, larger than the template) booting through SeaBIOS and the template's GRUB, with a
cloud-init section: a host name, a user with an SSH key and a password hash, and user_data of
its own (so the seed's user-data is the MIME multipart message: petreld's users, then the
user's runcmd). petreld writes the seed onto its "cidata" drive and sets the SMBIOS serial
"ds=nocloud". The guest's own output shows what cloud-init did:
- the console login prompt "HOSTNAME login: " (getty prints the host name cloud-init set);
- a line the runcmd writes to /dev/ttyS0: the fingerprint of the user's authorized_keys as the
  guest's ssh-keygen reads it (compared with the key's, computed here), its owner, the
  instance-id cloud-init took (the VM's UUID), the SMBIOS serial the guest sees, its host name
  and the root file system's size (growpart and resize2fs grew it to the overlay's size).

A full systemd and cloud-init boot takes many minutes where guest ring 0 is emulated: it runs
under scripts/nested-kvm.sh or on hardware KVM (scripts/pvm-proofs.sh), skips on a PVM host
(PETREL_CLOUDINIT_ON_PVM=1 runs it there anyway), and only in the extra run
(PETREL_LINUX_EXTRA=1). The console is in build/linux-cloudinit.log."""
import base64
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

import fwlib
import mgrlib

LOG = mgrlib.BUILD / "linux-cloudinit.log"
BOOT_TIMEOUT_S = float(os.environ.get("PETREL_CLOUDINIT_BOOT_TIMEOUT", 20 * 60))
HOSTNAME = "ci-web1"
USER = "tester"
# crypt(3) SHA-512 of "petrel" (openssl passwd -6 -salt petrelsalt petrel)
PASSWD = "$6$petrelsalt$/oj.9FjMLM8e/W8LXEHSM7fRwA4JYhkcheRxw8lzdsBIr3GvjC9wt7U7f5XbWMlLbz5d3CiEUnh49XEnCZ.jn/"
OVERLAY_GIB = 3

pytestmark = pytest.mark.skipif(Path("/sys/module/kvm_pvm").exists() and not os.environ.get("PETREL_CLOUDINIT_ON_PVM"),
                                reason="a full systemd and cloud-init boot takes tens of minutes on a PVM host "
                                       "(emulated ring 0); run under scripts/nested-kvm.sh or on hardware KVM "
                                       "(scripts/pvm-proofs.sh)")


def ed25519_key(comment):
    """An OpenSSH public key line of a random ed25519 key, and its fingerprint as ssh-keygen -l
    prints it (SHA256:base64 of the blob's hash, unpadded)."""
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + os.urandom(32)
    fp = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}", fp


def wait_console(path, pattern, timeout):
    end = time.monotonic() + timeout
    rx = re.compile(pattern)
    while True:
        text = path.read_text(errors="replace").replace("\r", "") if path.exists() else ""
        m = rx.search(text)
        if m:
            return m, text
        assert time.monotonic() < end, f"no {pattern!r} within {timeout:.0f} s; console:\n{text[-4000:]}"
        time.sleep(2)


@pytest.fixture
def petreld():
    """A started petreld (jailed workers; tests/manager's fixture), torn down at the end."""
    started = []

    def make(**kw):
        p = mgrlib.Petreld(**kw)
        started.append(p)
        return p.start()
    yield make
    for p in started:
        p.close()


def test_cloud_init_sets_the_host_name_and_the_users_key(petreld):
    if os.geteuid() != 0 or not shutil.which("mmdebstrap"):
        pytest.skip("the template needs root and mmdebstrap (scripts/mkimage.sh debian-cloud)")
    missing = fwlib.missing_tools(qemu=False) + [t for t in ("qemu-img", "mformat") if not shutil.which(t)]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (scripts/setup.sh)")
    p = petreld()
    # The disks on the jail base's file system (the worker gets hard links): petreld's root.
    base, disk = p.root / "debian-cloud.qcow2", p.root / "root.qcow2"
    secs, _ = fwlib.mkimage("debian-cloud", base, timeout=3600)
    print(f"mkimage debian-cloud: {secs:.1f} s")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", str(disk),
                    f"{OVERLAY_GIB}G"], check=True, cwd=p.root)
    key, fingerprint = ed25519_key("tester@petrel")
    report = ("echo PETREL-CI key $(ssh-keygen -lf /home/%s/.ssh/authorized_keys | cut -d' ' -f2)"
              " owner $(stat -c %%U /home/%s/.ssh/authorized_keys) iid $(cat /var/lib/cloud/data/instance-id)"
              " serial $(cat /sys/class/dmi/id/product_serial) host $(hostname) rootsize $(findmnt -bno SIZE /)"
              " end >/dev/ttyS0" % (USER, USER))
    user_data = "#cloud-config\nruncmd:\n  - [sh, -c, %s]\n" % json.dumps(report)
    doc = {"boot-source": {"firmware": "seabios"},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 768},
           "drives": [{"drive_id": "root", "path_on_host": str(disk), "format": "qcow2", "is_root_device": False,
                       "is_read_only": False, "boot_index": 0}],
           "petrel": {"name": "cloudvm", "cloud-init": {
               "hostname": HOSTNAME,
               "users": [{"name": USER, "ssh_authorized_keys": [key], "passwd": PASSWD, "sudo": True,
                          "shell": "/bin/bash"}],
               "user_data": user_data}}}
    st, vm = p.api("POST", "/vms", doc)
    assert st == 201, vm
    # The seed as the guest will read it (tests/manager/test_manager_cloudinit.py reads it in detail).
    seed = p.defs / "cloudvm.cidata"
    assert seed.exists()
    t0 = time.monotonic()
    r = p.ctl("start", "cloudvm", timeout=300)
    assert r.returncode == 0, r.stderr + p.log.read_text()[-2000:]
    console = p.state / "logs" / "cloudvm.worker.log"
    try:
        _, text = wait_console(console, re.escape(fwlib.GRUB_MARKER), 10 * 60)
        t_grub = time.monotonic()
        m, text = wait_console(console, r"PETREL-CI key (\S+) owner (\S+) iid (\S+) serial (.*?) host (\S+) "
                               r"rootsize (\d+) end", BOOT_TIMEOUT_S)
        t_run = time.monotonic()
        _, text = wait_console(console, rf"\n{re.escape(HOSTNAME)} login: ", BOOT_TIMEOUT_S)
        t_login = time.monotonic()
    finally:
        if console.exists():
            shutil.copyfile(console, LOG)
    print(f"GRUB after {t_grub - t0:.0f} s, runcmd's line after {t_run - t0:.0f} s, "
          f"'{HOSTNAME} login:' after {t_login - t0:.0f} s")
    got_fp, owner, iid, serial, host, rootsize = m.groups()
    assert got_fp == fingerprint, f"authorized_keys holds {got_fp}, the key given is {fingerprint}"
    assert owner == USER
    assert iid == vm["uuid"], f"instance-id {iid}, the VM's UUID {vm['uuid']}"
    assert serial.strip() == "ds=nocloud"
    assert host == HOSTNAME
    assert int(rootsize) > (OVERLAY_GIB - 1) << 30, f"the root was not grown: {rootsize} bytes"
    assert "Traceback" not in text, text[-4000:]
    assert p.api("POST", "/vms/cloudvm/destroy")[0] == 200
