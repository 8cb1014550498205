# SPDX-License-Identifier: Apache-2.0
"""libvirt's default NAT network and QEMU domains as the peer of petreld's networks
(bench/net_guards_vm.py; issue 54). This host has no systemd: libvirtd (Debian's
libvirt-daemon-system, monolithic) is started here by hand, in the foreground, inside the bench's
own network namespace (its virbr0, dnsmasq, iptables/ebtables rules and the domains' taps stay
there) and in a mount namespace of its own whose /run/libvirt, /var/lib/libvirt, /var/cache/libvirt,
/var/log/libvirt are fresh tmpfs and whose /etc/libvirt is a copy (qemu.conf: QEMU as root, no
security driver, no cgroups, no /dev namespace, QEMU's output
to a file: no virtlogd): nothing of the host's libvirt state is touched.
Its socket is in the bench's temporary directory (virsh -c 'qemu:///system?socket=...').

Domains: QEMU's pc machine with KVM (on a PVM host `-cpu host,-arch-capabilities`, as
tests/firmware/fwlib.py), the test guest as -kernel with its command line, a non-transitional
virtio-net-pci interface on the default network (with or without `<filterref filter='clean-traffic'>`
and the guest's address as its IP parameter), the serial port on a unix socket the bench reads and
writes, isa-debug-exit at 0xf4 (the guest's end ends QEMU)."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr

LIBVIRTD = "/usr/sbin/libvirtd"
SUBNET = "192.168.122"          # libvirt's default network (/etc/libvirt/qemu/networks/default.xml)
PRIVATE = ("/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt")

QEMU_CONF = """user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""


def missing():
    """Why the peer cannot run here, or None."""
    for f in (LIBVIRTD, shutil.which("virsh"), shutil.which("qemu-system-x86_64"), "/usr/sbin/ebtables",
              "/usr/sbin/iptables", "/etc/libvirt/nwfilter/clean-traffic.xml",
              "/etc/libvirt/qemu/networks/default.xml"):
        if not f or not os.path.exists(f):
            return (f"{f or 'virsh/qemu-system-x86_64'} is missing (Debian: libvirt-daemon-system libvirt-clients "
                    "qemu-system-x86)")
    return None


class Libvirt:
    """libvirtd in namespace ns (see above), its default network started."""

    def __init__(self, ns, drivers=None):
        """drivers: names of connection drivers to load (LIBVIRT_DRIVER_DIR), all by default."""
        self.dir = Path(tempfile.mkdtemp(prefix="pblv-", dir="/tmp"))
        self.ns = ns
        self.sock = self.dir / "sock" / "libvirt-sock"
        self.uri = f"qemu:///system?socket={self.sock}"
        etc = self.dir / "etc"
        (self.dir / "sock").mkdir()
        shutil.copytree("/etc/libvirt", etc, symlinks=True)
        (etc / "qemu.conf").write_text(QEMU_CONF)
        (etc / "libvirtd.conf").write_text(f'unix_sock_dir = "{self.dir / "sock"}"\nauth_unix_rw = "none"\n'
                                           'log_outputs = "2:stderr"\n')
        env = dict(os.environ)
        if drivers:
            dd = self.dir / "drivers"
            dd.mkdir()
            src = Path("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver")
            for d in drivers:
                (dd / f"libvirt_driver_{d}.so").symlink_to(src / f"libvirt_driver_{d}.so")
            env["LIBVIRT_DRIVER_DIR"] = str(dd)
        mounts = "".join(f"mkdir -p {p} && mount -t tmpfs -o mode=0755 none {p} && " for p in PRIVATE)
        script = (f"{mounts}mount --bind {etc} /etc/libvirt && "
                  f"exec {LIBVIRTD} -f {etc / 'libvirtd.conf'}")
        self.log = open(self.dir / "libvirtd.log", "wb")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "unshare", "-m", "--propagation", "private",
                                      "sh", "-c", script], stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        probe = f"{drivers[0]}:///system?socket={self.sock}" if drivers else None
        while not self.sock.exists() or self.virsh("net-list", "--all", check=False, uri=probe).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                why = self.log_tail()
                self.close()
                raise RuntimeError(f"libvirtd did not start: {why}")
            time.sleep(0.2)

    def log_tail(self, n=1500):
        try:
            return (self.dir / "libvirtd.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def virsh(self, *args, check=True, uri=None, timeout=120):
        r = subprocess.run(["virsh", "-q", "-c", uri or self.uri, *map(str, args)], capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"virsh {' '.join(map(str, args))}: {r.stderr.strip()} | libvirtd: {self.log_tail(600)}")
        return r

    def start_network(self, uri=None):
        if self.virsh("net-start", "default", check=False, uri=uri).returncode != 0:
            info = self.virsh("net-info", "default", uri=uri).stdout
            if "yes" not in info.split("Active:")[1].split("\n")[0]:
                raise RuntimeError(f"libvirt's default network did not start: {self.log_tail(600)}")
        return self.virsh("net-info", "default", uri=uri).stdout

    def close(self):
        if self.proc.poll() is None:
            for d in self.virsh("list", "--name", check=False).stdout.split():
                self.virsh("destroy", d, check=False)
            self.virsh("net-destroy", "default", check=False)
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def domain_xml(name, kernel, cmdline, mac, ip, filtered, serial):
    cpu = "host,-arch-capabilities" if os.path.exists("/sys/module/kvm_pvm") else "host"
    filt = (f"<filterref filter='clean-traffic'><parameter name='IP' value='{ip}'/></filterref>" if filtered else "")
    return f"""<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{kernel}</kernel><cmdline>{quote(cmdline)}</cmdline></os>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>{shutil.which('qemu-system-x86_64')}</emulator>
    <interface type='network'><source network='default'/><mac address='{mac}'/>
      <model type='virtio-non-transitional'/>{filt}</interface>
    <serial type='unix'><source mode='bind' path='{serial}'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-cpu'/><qemu:arg value='{cpu}'/>
    <qemu:arg value='-device'/><qemu:arg value='isa-debug-exit,iobase=0xf4,iosize=4'/>
  </qemu:commandline>
</domain>
"""


def quote(s):
    return quoteattr(s)[1:-1]


class Domain:
    """A running domain: its console's output read as it comes (expect), bytes sent (send)."""

    def __init__(self, lv, name, kernel, cmdline, mac, ip, filtered):
        self.lv, self.name = lv, name
        self.serial = lv.dir / f"{name}.serial"
        xml = lv.dir / f"{name}.xml"
        xml.write_text(domain_xml(name, kernel, cmdline, mac, ip, filtered, self.serial))
        lv.virsh("create", xml, "--paused")
        self.s = socket.socket(socket.AF_UNIX)
        try:
            self.s.connect(str(self.serial))
        except OSError as e:
            lv.virsh("destroy", name, check=False)
            raise RuntimeError(f"{name}: its serial socket {self.serial}: {e}") from e
        self.out = b""
        lv.virsh("resume", name)

    def _read(self, until, what, timeout):
        """Read the console until until() or its end (QEMU gone): whether until() held."""
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{self.name}: no {what} in {timeout} s: {self.out[-800:]!r}")
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                d = b""
            if not d:
                return False
            self.out += d
        return True

    def expect(self, text, timeout):
        if not self._read(lambda: text.encode() in self.out, f"'{text}'", timeout):
            raise RuntimeError(f"{self.name}: console closed before '{text}': {self.out[-800:]!r}")

    def send(self, b):
        self.s.sendall(b)

    def finish(self, timeout=600):
        """Read to the guest's end (QEMU exits, the socket closes): its output."""
        self._read(lambda: False, "end", timeout)
        text = self.out.decode(errors="replace")
        if "ok dhcpnet" not in text:
            raise RuntimeError(f"{self.name}: did not pass: {text[-800:]}")
        return text

    def kill(self):
        self.s.close()
        self.lv.virsh("destroy", self.name, check=False)
