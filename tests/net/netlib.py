# SPDX-License-Identifier: Apache-2.0
"""Helpers of tests/net: a "host" (a network namespace running petreld as tests/manager's
mgrlib starts it), an "outside" namespace the host routes to over a veth (192.0.2.1 on the
host, 192.0.2.2 outside), and "guests": namespaces with a veth whose other end is on a bridge,
getting their address from the network's dnsmasq with busybox udhcpc."""
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import mgrlib

UDHCPC = "/usr/sbin/udhcpc"
DNSMASQ = "/usr/sbin/dnsmasq"
HOST_OUT, OUTSIDE = "192.0.2.1", "192.0.2.2"

# udhcpc's script: the lease's address and default route on the interface, the address in a file
SCRIPT = """#!/bin/sh
case "$1" in
deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
  ip -4 addr flush dev "$interface"
  ip addr add "$ip/$mask" dev "$interface"
  [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
  echo "$ip" > "$LEASE_FILE" ;;
esac
"""

# a TCP server that answers every connection with the address it came from
ECHO_PEER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
while True:
    c, a = s.accept(); c.sendall(a[0].encode()); c.close()
"""


def missing():
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, bridges, nftables)"
    for tool in ("nft", "ip"):
        if not shutil.which(tool):
            return f"needs {tool}"
    for f in (DNSMASQ, UDHCPC):
        if not os.access(f, os.X_OK):
            return f"needs {f}"
    if not mgrlib.PETRELD.exists():
        return "petreld is not built"
    return None


def sh(*args, check=True, timeout=30, ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise AssertionError(f"{' '.join(cmd)}: {r.returncode}: {r.stderr}{r.stdout}")
    return r


def links(ns):
    """The namespace's interfaces: name -> kind line, for comparing before and after."""
    return sorted(line.split(":")[1].strip().split("@")[0] for line in sh("ip", "-o", "link", ns=ns).stdout.splitlines())


def ruleset(ns):
    return sh("nft", "list", "ruleset", ns=ns).stdout


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for(cond, timeout=10.0, what="the condition", every=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def nat_def(name="default", subnet="10.77.0", **extra):
    d = {"name": name, "kind": "nat",
         "ipv4": {"address": f"{subnet}.1", "prefix": 24, "dhcp_start": f"{subnet}.100", "dhcp_end": f"{subnet}.200"},
         "domain": "vm"}
    d.update(extra)
    return d


class Guest:
    """A namespace with eth0, a veth whose peer is on bridge in the host's namespace."""

    def __init__(self, host, bridge, name, mac=None):
        self.host, self.name = host, name
        self.ns = f"{host.tag}-{name}"
        self.peer = f"v{host.tag[-5:]}{name}"[:15]
        sh("ip", "netns", "add", self.ns)
        host.namespaces.append(self.ns)
        sh("ip", "link", "set", "lo", "up", ns=self.ns)
        sh("ip", "link", "add", self.peer, "type", "veth", "peer", "name", "eth0", "netns", self.ns, ns=host.ns)
        if mac:
            sh("ip", "link", "set", "eth0", "address", mac, ns=self.ns)
        sh("ip", "link", "set", self.peer, "master", bridge, "up", ns=host.ns)
        sh("ip", "link", "set", "eth0", "up", ns=self.ns)
        self.ip = None

    def dhcp(self, hostname=None):
        """Ask the network's dnsmasq for an address (udhcpc): the address it bound."""
        lease = self.host.root / f"lease-{self.name}"
        env = dict(os.environ, LEASE_FILE=str(lease))
        cmd = ["ip", "netns", "exec", self.ns, UDHCPC, "-i", "eth0", "-f", "-q", "-n", "-t", "10", "-T", "1",
               "-s", str(self.host.script), "-x", f"hostname:{hostname or self.name}"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 0 and lease.exists(), f"udhcpc failed: {r.stdout}{r.stderr}"
        self.ip = lease.read_text().strip()
        return self.ip

    def run(self, *args, **kw):
        return sh(*args, ns=self.ns, **kw)

    def ping(self, addr):
        return self.run("busybox", "ping", "-c", "1", "-W", "2", addr, check=False).returncode == 0

    def connect(self, addr, port, timeout=3):
        """What a TCP server at addr:port answers (the echo server: the address it saw), or None."""
        code = ("import socket,sys\n"
                "try:\n"
                f"  s = socket.create_connection(({addr!r}, {port}), timeout={timeout}); print(s.recv(64).decode())\n"
                "except OSError as e:\n  print('FAIL', e); sys.exit(1)\n")
        r = self.run("python3", "-c", code, check=False, timeout=timeout + 10)
        return r.stdout.strip() if r.returncode == 0 else None

    def resolve(self, name, server):
        """The addresses busybox nslookup gets for name from server."""
        r = self.run("busybox", "nslookup", name, server, check=False)
        out = r.stdout.split("Name:", 1)[1] if "Name:" in r.stdout else ""
        return [line.split()[-1] for line in out.splitlines() if line.strip().startswith("Address")]


class Host:
    """A host namespace with petreld, and the outside namespace it routes to."""

    def __init__(self, jailer=False, args=()):
        """args: petreld's further arguments (the web page's tests give --web-dir); jailer: its
        workers jailed (VMs on its networks)."""
        self.tag = "pn" + uuid.uuid4().hex[:6]
        self.ns, self.outside = f"{self.tag}-h", f"{self.tag}-o"
        self.namespaces = []
        self.procs = []
        for ns in (self.ns, self.outside):
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "add", "out0", "type", "veth", "peer", "name", "eth0", "netns", self.outside, ns=self.ns)
        sh("ip", "addr", "add", f"{HOST_OUT}/24", "dev", "out0", ns=self.ns)
        sh("ip", "link", "set", "out0", "up", ns=self.ns)
        sh("ip", "addr", "add", f"{OUTSIDE}/24", "dev", "eth0", ns=self.outside)
        sh("ip", "link", "set", "eth0", "up", ns=self.outside)
        # Jailed workers need petreld in the namespace by nsenter: `ip netns exec` mounts a sysfs
        # of its own over /sys, which hides /sys/fs/cgroup from the jailer.
        prefix = ["nsenter", f"--net=/run/netns/{self.ns}"] if jailer else ["ip", "netns", "exec", self.ns]
        self.pd = mgrlib.Petreld(jailer=jailer, prefix=prefix, args=args)
        self.root = self.pd.root
        os.chmod(self.root, 0o755)   # dnsmasq, as its own user, reads the reservations below it
        self.script = self.root / "udhcpc.sh"
        self.script.write_text(SCRIPT)
        self.script.chmod(0o755)
        self.pd.start()

    def api(self, method, path, body=None, **kw):
        return self.pd.api(method, path, body, **kw)

    def define(self, d):
        return self.api("POST", "/networks", d)

    def start_net(self, d):
        st, body = self.define(d)
        assert st == 201, body
        st, body = self.api("POST", f"/networks/{d['name']}/start")
        assert st == 200, body
        return body

    def info(self, name):
        st, body = self.api("GET", f"/networks/{name}")
        assert st == 200, body
        return body

    def restart_petreld(self, sig=signal.SIGTERM):
        self.pd.stop(sig)
        self.pd.start()

    def serve_outside(self, port=9999, ns=None):
        """The echo server in the outside namespace (or ns)."""
        p = subprocess.Popen(["ip", "netns", "exec", ns or self.outside, "python3", "-c", ECHO_PEER, str(port)])
        self.procs.append(p)
        wait_for(lambda: f":{port:04X}" in sh("cat", "/proc/net/tcp", ns=ns or self.outside).stdout,
                 what="the echo server")
        return p

    def dnsmasq_pids(self):
        pids = set()
        for run in (self.pd.state / "networks").glob("*/run.json"):
            try:
                pids.add(json.loads(run.read_text())["dnsmasq_pid"])
            except (ValueError, KeyError, OSError):
                pass
        for pf in (self.pd.state / "networks").glob("*/dnsmasq.pid"):
            try:
                pids.add(int(pf.read_text()))
            except (ValueError, OSError):
                pass
        return {p for p in pids if p > 0 and alive(p) and "dnsmasq" in Path(f"/proc/{p}/cmdline").read_text()}

    def close(self):
        self.pd.stop(signal.SIGKILL)
        for p in self.procs:
            p.kill()
            p.wait()
        if (self.pd.state / "networks").is_dir():
            for pid in self.dnsmasq_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        self.pd.close()
