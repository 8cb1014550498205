"""The Debian cloud template and cloud-init's NoCloud seed in real guests (issue 55).

petreld defines three VMs of one template (scripts/mkimage.sh debian-cloud), each on a qcow2
overlay of its own (3 GiB, larger than the template), booting through SeaBIOS and the template's
GRUB, each with a cloud-init section: a user with an SSH key, a password hash and sudo, and
user_data of the test's own (so each seed's user-data is the MIME multipart message: petreld's
users, then the user's runcmd); the first names its host ("ci-web1.example.org"), the others
take their VMs' names. petreld writes each seed onto its "cidata" drive and sets the SMBIOS
serial "ds=nocloud". The three start at once; each guest's own output shows what cloud-init did:
- the console login prompt "HOSTNAME login: " (getty prints the host name cloud-init set);
- a line the runcmd writes to /dev/ttyS0: the fingerprint of the user's authorized_keys as the
  guest's ssh-keygen reads it (compared with the key's, computed here), its owner, the user's
  password hash in the shadow file, its sudo rule, the instance-id cloud-init took (the VM's
  UUID: three different ones), the SMBIOS serial the guest sees, its host name and the root file
  system's size (growpart and resize2fs grew it to the overlay's size);
- no warning or error of cloud-init's (a module that failed) on the console.
A fourth VM boots the same template through OVMF (the EFI system partition's GRUB) with the same
checks: one GPT disk for both firmwares.

Full systemd and cloud-init boots take many minutes where guest ring 0 is emulated: this runs
under scripts/nested-kvm.sh or on hardware KVM (scripts/pvm-proofs.sh), skips on a PVM host
(PETREL_CLOUDINIT_ON_PVM=1 runs it there anyway), and only in the extra run
(PETREL_LINUX_EXTRA=1). The consoles are in build/linux-cloudinit-cloudN.log."""
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


REPORT = re.compile(r"PETREL-CI key (\S+) owner (\S+) hash (\S+) sudo (\d+) iid (\S+) serial (.*?) host (\S+) "
                    r"rootsize (\d+) end")


def boot(vms):
    """Define each VM of vms ({name: (firmware, host name or None)}) on an overlay of its own of
    the template, with the test's seed; start them all; check each guest's report and login
    prompt."""
    if os.geteuid() != 0 or not shutil.which("mmdebstrap"):
        pytest.skip("the template needs root and mmdebstrap (scripts/mkimage.sh debian-cloud)")
    missing = fwlib.missing_tools(qemu=False) + [t for t in ("qemu-img", "mformat") if not shutil.which(t)]
    if any(fw == "ovmf" for fw, _ in vms.values()):
        missing += fwlib.missing_efi_tools()
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (scripts/setup.sh)")
    p = mgrlib.Petreld().start()
    try:
        run(p, vms)
    finally:
        p.close()


def run(p, vms):
    # The disks on the jail base's file system (the worker gets hard links): petreld's root.
    base = p.root / "debian-cloud.qcow2"
    secs, _ = fwlib.mkimage("debian-cloud", base, timeout=3600)
    print(f"mkimage debian-cloud: {secs:.1f} s")
    key, fingerprint = ed25519_key("tester@petrel")
    home = f"/home/{USER}/.ssh/authorized_keys"
    report = (f"echo PETREL-CI key $(ssh-keygen -lf {home} | cut -d' ' -f2) owner $(stat -c %U {home})"
              f" hash $(getent shadow {USER} | cut -d: -f2) sudo $(sudo -n -l -U {USER} | grep -c 'NOPASSWD: ALL')"
              " iid $(cat /var/lib/cloud/data/instance-id) serial $(cat /sys/class/dmi/id/product_serial)"
              " host $(hostname) rootsize $(findmnt -bno SIZE /) end >/dev/ttyS0")
    user_data = "#cloud-config\nruncmd:\n  - [sh, -c, %s]\n" % json.dumps(report)
    uuids, hosts = {}, {}
    for name, (firmware, hostname) in vms.items():
        disk = p.root / f"{name}.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2", str(disk),
                        f"{OVERLAY_GIB}G"], check=True, cwd=p.root)
        section = {"users": [{"name": USER, "ssh_authorized_keys": [key], "passwd": PASSWD, "sudo": True,
                              "shell": "/bin/bash"}], "user_data": user_data}
        if hostname:   # a full name: the host name is its first label
            section["hostname"] = hostname
        hosts[name] = (hostname or name).split(".")[0]
        doc = {"boot-source": {"firmware": firmware},
               "machine-config": {"vcpu_count": 1, "mem_size_mib": 768},
               "drives": [{"drive_id": "root", "path_on_host": str(disk), "format": "qcow2", "is_root_device": False,
                           "is_read_only": False, "boot_index": 0}],
               "petrel": {"name": name, "cloud-init": section}}
        st, vm = p.api("POST", "/vms", doc)
        assert st == 201, vm
        uuids[name] = vm["uuid"]
        # the seed, made at define (tests/manager/test_manager_cloudinit.py reads it in detail)
        assert (p.defs / f"{name}.cidata").exists()
    t0 = time.monotonic()
    for name in vms:
        r = p.ctl("start", name, timeout=300)
        assert r.returncode == 0, r.stderr + p.log.read_text()[-2000:]
    for name in vms:
        console = p.state / "logs" / f"{name}.worker.log"
        try:
            m, text = wait_console(console, REPORT.pattern, BOOT_TIMEOUT_S)
            t_run = time.monotonic()
            _, text = wait_console(console, rf"\n{re.escape(hosts[name])} login: ", BOOT_TIMEOUT_S)
            t_login = time.monotonic()
        finally:
            if console.exists():
                shutil.copyfile(console, LOG.with_name(f"linux-cloudinit-{name}.log"))
        print(f"{name} ({vms[name][0]}): runcmd's line after {t_run - t0:.0f} s, '{hosts[name]} login:' after "
              f"{t_login - t0:.0f} s ({len(vms)} booting at once)")
        got_fp, owner, got_hash, sudo, iid, serial, host, rootsize = m.groups()
        assert got_fp == fingerprint, f"{name}: authorized_keys holds {got_fp}, the key given is {fingerprint}"
        assert owner == USER
        assert got_hash == PASSWD, f"{name}: the shadow file holds {got_hash}"
        assert sudo == "1", f"{name}: {USER} has no NOPASSWD rule"
        assert iid == uuids[name], f"{name}: instance-id {iid}, the VM's UUID {uuids[name]}"
        assert serial.strip() == "ds=nocloud"
        assert host == hosts[name]
        assert int(rootsize) > (OVERLAY_GIB - 1) << 30, f"{name}: the root was not grown: {rootsize} bytes"
        # cloud-init's own complaints (a module that failed) and Python's
        bad = re.findall(r"cloud-init\[\d+\]: .*\[(?:WARNING|ERROR|CRITICAL)\].*|Traceback.*", text)
        assert not bad, f"{name}: " + "\n".join(bad)
    assert len(set(uuids.values())) == len(vms)
    for name in vms:
        assert p.api("POST", f"/vms/{name}/destroy")[0] == 200


def test_three_vms_of_one_template_take_their_identities_from_their_seeds():
    """Through SeaBIOS and the BIOS boot partition's GRUB; the first names its host, the others
    take their VMs' names."""
    boot({"cloud1": ("seabios", f"{HOSTNAME}.example.org"), "cloud2": ("seabios", None),
          "cloud3": ("seabios", None)})


def test_the_template_boots_through_ovmf_too():
    """The same disk through OVMF and the EFI system partition's GRUB (its removable-media
    path: a new VM's variables name no boot entry)."""
    boot({"cloudefi": ("ovmf", None)})
