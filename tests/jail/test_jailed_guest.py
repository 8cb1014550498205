# SPDX-License-Identifier: Apache-2.0
"""A jailed petrel runs a guest: what the jail is for.

test_jailer.py checks the jail from outside without a VM; here build/petrel-jailer starts
petrel as Firecracker's users run it (new PID namespace, a network namespace, v1 cgroups with
a memory limit, uid/gid 12345, seccomp on by default), the test puts the guest's files into the
jail the way Firecracker's docs say (copies owned by the jail's user; paths in API requests
are inside the jail), configures the VM through the API socket from the host and starts it.
A ring-3 test guest (tests/guests) then does real work through /dev/kvm, its disk and its tap
inside the jail, and ends; the jailer passes petrel's exit status on.
Needs root, /dev/kvm and the test guests (skips otherwise, like the other guest tests)."""
import json
import os
import shutil
from pathlib import Path

import pytest

import jaillib

import guestlib
from nethelp import MAC, Netns, Tap, exchange

pytestmark = [
    pytest.mark.needs_kvm,   # known where root is missing too
    pytest.mark.skipif(os.geteuid() != 0, reason="the jailer needs root"),
    pytest.mark.skipif(not jaillib.JAILER.exists(), reason=f"{jaillib.JAILER} not built"),
]

UID = GID = 12345
SECTORS = 32768  # the 16 MiB image virtio_blk expects
CGROUP_ARGS = ["--cgroup-version", "1", "--cgroup", "pids.max=64",
               "--cgroup", "memory.limit_in_bytes=536870912"]


def into_jail(j, src, name, data=None):
    """Firecracker's recipe: a copy in the jail root, owned by the jail's user."""
    dst = j.root / name
    if data is None:
        shutil.copyfile(src, dst)
    else:
        dst.write_bytes(data)
    os.chown(dst, UID, GID)
    return "/" + name


class Jailed:
    """A jailed petrel with its API socket, its output read on a thread."""

    def __init__(self, jails, base, parent_cgroup, jail_id, jail_args=()):
        self.j = jaillib.Jail(base, jail_id, args=["--new-pid-ns", *jail_args, *CGROUP_ARGS],
                              petrel_args=["--api-sock", "/run/api.sock", "--debug-exit",
                                           "--level", "Info"],
                              parent_cgroup=parent_cgroup)
        jails.append(self.j)
        self.j.start()
        self.sock = self.j.root / "run" / "api.sock"
        jaillib.wait_api(self.sock, self.j.proc)
        self.out = guestlib._Reader(self.j.proc.stdout)
        self.out.start()

    def put(self, url, body):
        status, reply = jaillib.http_request(self.sock, "PUT", url, json.dumps(body))
        assert status == 204, f"PUT {url}: {status} {reply!r}\n{self.out.text()}"

    def boot(self, image, boot_args):
        kernel = into_jail(self.j, image, "guest.elf")
        self.put("/boot-source", {"kernel_image_path": kernel, "boot_args": boot_args})
        self.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})

    def start(self):
        self.put("/actions", {"action_type": "InstanceStart"})
        # petrel, pid 1 of its PID namespace (the cgroups may also hold KVM's worker threads)
        self.pid = self.j.petrel_pid()
        # every thread runs as the jail's user under its seccomp filter
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                st = (task / "status").read_text()
            except FileNotFoundError:   # a thread that has ended
                continue
            assert f"Uid:\t{UID}\t{UID}\t{UID}\t{UID}\n" in st and "Seccomp:\t2\n" in st, st

    def wait(self, name, timeout=120):
        try:
            rc = self.j.proc.wait(timeout=timeout)
        except jaillib.subprocess.TimeoutExpired:
            pytest.fail(f"the jailed guest did not end in {timeout} s\n{self.out.text()}")
        self.out.join(5)
        text = self.out.text()
        assert rc == 0 and f"\nok {name}\n" in "\n" + text, f"jailer exit {rc}\n{text}"
        return text


def test_a_jailed_guest_reads_and_writes_its_disk(jails, base, parent_cgroup):
    img = guestlib.require("virtio_blk")
    vm = Jailed(jails, base, parent_cgroup, "jail-guest-blk")
    vm.boot(img, f"sectors={SECTORS} id=rootfs")
    disk = into_jail(vm.j, None, "disk.img", guestlib.disk_pattern(SECTORS * 512))
    vm.put("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": disk,
                              "is_root_device": False, "is_read_only": False})
    vm.start()
    vm.wait("virtio_blk")
    guestlib.check_blk_rw_image(vm.j.root / "disk.img", SECTORS)


def test_a_jailed_guest_talks_through_its_tap_in_the_jails_netns(jails, base, parent_cgroup):
    """The tap lives in the network namespace the jailer joins and belongs to the jail's
    user: petrel attaches to it without CAP_NET_ADMIN, as Firecracker's production setup does."""
    img = guestlib.require("virtio_net")
    ns = Netns()
    tap = None
    try:
        tap = Tap(netns=ns.name, owner=(UID, GID))
        tap.open_socket()
        vm = Jailed(jails, base, parent_cgroup, "jail-guest-net", ["--netns", f"/run/netns/{ns.name}"])
        vm.boot(img, f"mac={MAC} out=32 in=200")
        vm.put("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": tap.name,
                                            "guest_mac": MAC})
        vm.start()
        assert os.readlink(f"/proc/{vm.pid}/ns/net") != os.readlink("/proc/self/ns/net")
        exchange(tap, 32, 200)
        vm.wait("virtio_net")
    finally:
        if tap:
            tap.close()
        ns.close()
