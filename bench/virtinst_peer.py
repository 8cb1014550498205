# SPDX-License-Identifier: Apache-2.0
"""virt-install --import with libvirt and QEMU as the peer of petreld's VMs made from an image
(bench/from_image.py; issue 55). The same image and what a user of libvirt does with it: per VM a
qcow2 overlay (`qemu-img create -b IMAGE -F raw`) and `virt-install --import --cloud-init` (its own
NoCloud seed: an ISO made by xorrisofs in virt-install's scratch directory, attached for the first
boot only, with the SMBIOS serial `ds=nocloud`), against a libvirtd the bench starts itself
(bench/libvirt_peer.py: in a network namespace of its own, private /run/libvirt, /var/lib/libvirt,
...). virt-install runs in libvirtd's mount namespace (nsenter): it writes the seed into its scratch
directory, /var/lib/libvirt/boot (made there, in libvirtd's private tmpfs), which libvirtd's QEMU
must see (without it virt-install would write into ~/.cache and upload the seed to libvirtd).

Domains: --osinfo detect=on,require=off (nothing to detect in an imported disk: a generic OS), the
overlay as a virtio disk, no network, no graphics, no balloon, the first serial port to a file
per domain (the bench reads "ok boot" there), on a PVM host `-cpu host,-arch-capabilities` (as
tests/firmware/fwlib.py; libvirt: host-passthrough with the feature disabled). QEMU boots it as
`virt-install --import` does: SeaBIOS from the disk, GRUB, the kernel grub.cfg names."""
import os
import shutil
import subprocess
import time

import libvirt_peer

VIRT_INSTALL = "/usr/bin/virt-install"


def missing():
    """Why the peer cannot run here, or None."""
    why = libvirt_peer.missing()
    if why:
        return why
    for f in (VIRT_INSTALL, shutil.which("qemu-img"), shutil.which("xorrisofs"), shutil.which("nsenter")):
        if not f or not os.path.exists(f):
            return (f"{f or 'qemu-img/xorrisofs/nsenter'} is missing (Debian: virtinst qemu-utils xorriso "
                    "util-linux)")
    return None


def children_cpu_ms():
    """utime + stime of the bench's children it waited for (qemu-img, virt-install, virsh), ms."""
    t = os.times()
    return (t.children_user + t.children_system) * 1000


class Peer:
    """libvirtd in a network namespace of its own, and the image's VMs made with virt-install."""

    def __init__(self, image, memory_mib):
        self.ns = f"pbvi{os.getpid()}"
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        try:
            self.lv = libvirt_peer.Libvirt(self.ns)
        except BaseException:
            subprocess.run(["ip", "netns", "del", self.ns])
            raise
        self.image, self.memory_mib = image, memory_mib
        self.version = subprocess.run([VIRT_INSTALL, "--version"], capture_output=True, text=True).stdout.strip()
        self.names = []
        self._run(["nsenter", "-t", str(self.lv.proc.pid), "-m", "mkdir", "-p", "/var/lib/libvirt/boot"])

    def libvirtd_cpu_ms(self):
        """libvirtd's utime + stime with its waited-for children (the process ip netns exec, unshare
        and sh exec'd into), ms."""
        fields = open(f"/proc/{self.lv.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return sum(int(f) for f in fields[11:15]) * 1000 / os.sysconf("SC_CLK_TCK")

    def serial_log(self, name):
        return self.lv.dir / f"{name}.serial.log"

    def _argv(self, name):
        """virt-install's command line for VM name, its overlay and seed files written."""
        d = self.lv.dir
        overlay = d / f"{name}.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(self.image), "-F", "raw", str(overlay)],
                       check=True)
        meta, user = d / f"{name}.meta-data", d / f"{name}.user-data"
        meta.write_text(f"instance-id: {name}-{time.time_ns()}\nlocal-hostname: {name}\n")
        user.write_text(f"#cloud-config\nhostname: {name}\n")
        cpu = "host-passthrough" + (",disable=arch-capabilities" if os.path.exists("/sys/module/kvm_pvm") else "")
        return ["nsenter", "-t", str(self.lv.proc.pid), "-m", VIRT_INSTALL, "--connect", self.lv.uri,
                "--name", name, "--memory", str(self.memory_mib), "--vcpus", "1", "--cpu", cpu,
                "--import", "--disk", f"path={overlay},format=qcow2,bus=virtio",
                "--osinfo", "detect=on,require=off", "--cloud-init", f"meta-data={meta},user-data={user}",
                "--network", "none", "--graphics", "none", "--memballoon", "none",
                "--serial", f"file,path={self.serial_log(name)}", "--noautoconsole"]

    def _run(self, argv, stdin=None):
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)[:300]}: {r.stderr.strip()[-800:]} | "
                               f"libvirtd: {self.lv.log_tail(600)}")
        return r.stdout

    def define(self, name):
        """Made, not started, as petreld's POST /vms/from-image without start: the overlay, the seed
        (virt-install makes its ISO, and removes it again when it only prints the XML) and the
        domain's definition in libvirtd (virt-install --print-xml 2, its final XML, virsh define).
        virt-install itself cannot define a VM with a seed without starting it: the seed is for the
        first boot only."""
        xml = self._run(self._argv(name) + ["--print-xml", "2"])
        self.names.append(name)
        self._run(["virsh", "-q", "-c", self.lv.uri, "define", "/dev/stdin"], stdin=xml)

    def create(self, name):
        """Made and started: virt-install --import --noautoconsole (libvirt's createXML with the
        seed attached, then the final XML defined); returns once QEMU runs."""
        self.names.append(name)
        self._run(self._argv(name))

    def remove_all(self):
        for name in self.names:
            self.lv.virsh("destroy", name, check=False)
            self.lv.virsh("undefine", name, check=False)
            for f in (f"{name}.qcow2", f"{name}.meta-data", f"{name}.user-data", f"{name}.serial.log"):
                (self.lv.dir / f).unlink(missing_ok=True)
        self.names = []

    def close(self):
        try:
            self.remove_all()
            self.lv.close()
        finally:
            subprocess.run(["ip", "netns", "del", self.ns])
