# SPDX-License-Identifier: Apache-2.0
"""The namespace test cluster of harness/cluster.sh, driven from Python: bring it up and down,
run commands in a host, read Corosync's quorum and Pacemaker's view, kill, cut and mend hosts.
Used by tests/cluster and bench/cluster.py."""
import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "harness"
SCRIPT = HARNESS / "cluster.sh"
BUILD = Path(os.environ.get("PETREL_BUILD", ROOT / "build")).resolve()
TOOLS = ("corosync", "pacemakerd", "crm_mon", "cibadmin", "crm_resource", "stonith_admin",
         "nsenter", "unshare", "ip", "jq")


def addr(host):
    """The host's address on the cluster bridge (harness/cluster.sh)."""
    return f"10.239.39.{10 + int(host[1:])}"


def missing():
    """Why this machine cannot build the test cluster, or None."""
    if os.geteuid() != 0:
        return "needs root (network, mount, pid namespaces)"
    for t in TOOLS:
        if not shutil.which(t):
            return f"{t} is not installed (scripts/setup.sh)"
    for b in ("petreld", "petrelctl"):
        if not (BUILD / b).exists():
            return f"{BUILD / b} is not built"
    return None


# petrel's own log lines among a worker's console output (as tests/manager reads them)
PETREL_LINE = re.compile(r"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9} \[[^\]\n]*\] |petrel: )[^\n]*\n")


class Cluster:
    def __init__(self, n=3, token_ms=None, cdir=None, token_coefficient_ms=None, consensus_ms=None):
        self.n = n
        self.hosts = [f"h{i}" for i in range(1, n + 1)]
        self.dir = Path(cdir or os.environ.get("PETREL_CLUSTER_DIR", "/tmp/petrel-cluster"))
        self.env = dict(os.environ, PETREL_BUILD=str(BUILD), PETREL_CLUSTER_DIR=str(self.dir))
        for var, v in (("TOKEN", token_ms), ("TOKEN_COEFFICIENT", token_coefficient_ms), ("CONSENSUS", consensus_ms)):
            if v is not None:
                self.env[f"PETREL_CLUSTER_{var}"] = str(v)
        self.shared = self.dir / "shared"

    def sh(self, *args, check=True, timeout=300):
        r = subprocess.run([str(SCRIPT), *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"cluster.sh {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout[-2000:]}{r.stderr[-3000:]}")
        return r

    def up(self):
        """Bring the cluster up, after taking down what an earlier run left (it fails when that
        leaves processes: a second cluster beside them would be starved); a failed up takes down
        what it started."""
        self.sh("down")
        try:
            self.sh("up", str(self.n), timeout=60 + 4 * int(self.env.get("PETREL_CLUSTER_WAIT", 60)))
        except BaseException:
            self.sh("down", check=False)
            raise
        return self

    def down(self):
        """Take the cluster down; fails when processes of a host are left (cluster.sh says which)."""
        self.sh("down")

    def x(self, host, *cmd, check=False, timeout=60):
        """Run cmd inside host; the CompletedProcess. The timeout is stretched by
        PETREL_CLUSTER_TIME_SCALE as the waits are: under nested KVM (17:36 run) a look at a
        VM's state took more than 30 s while Pacemaker started a replicated pair."""
        r = self.sh("exec", host, *cmd, check=False, timeout=timeout * SCALE)
        if check and r.returncode != 0:
            raise AssertionError(f"{host}: {' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
        return r

    def init_pid(self, host):
        """The host's init in the root pid namespace, or None when it is down."""
        try:
            pid = int((self.dir / "hosts" / host / "init.pid").read_text())
        except (OSError, ValueError):
            return None
        try:
            ours = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            return None
        theirs = subprocess.run(["ip", "netns", "exec", f"pcl{host}", "readlink", "/proc/self/ns/net"],
                                capture_output=True, text=True).stdout.strip()
        return pid if ours == theirs else None

    def instances(self, host):
        """The inits of host running now, of any instance (1 while it is up; 2 must never be):
        pid 1 of a pid namespace with the host's marker (harness/cluster-fence.sh host_boot)."""
        mark = f"PETREL_CLUSTER_HOST={self.dir}/hosts/{host}".encode()
        out = []
        for p in Path("/proc").iterdir():
            try:
                if mark in p.joinpath("environ").read_bytes().split(b"\0") and \
                        re.search(r"^NSpid:\s+\d+\s+1$", p.joinpath("status").read_text(), re.M):
                    out.append(int(p.name))
            except (OSError, ValueError):
                continue
        return out

    def power_log(self, host, since=0):
        """What the fence daemon and cluster.sh did to host's power after the first `since` lines
        of their log: ("kill", processes killed), ("boot", init), ("pending", "boot"), ("cancel", "boot")."""
        try:
            lines = (self.dir / "power.log").read_text().splitlines()[since:]
        except OSError:
            return []
        return [(f[1], f[3]) for f in map(str.split, lines) if f[2:3] == [host]]

    def power_lines(self):
        try:
            return len((self.dir / "power.log").read_text().splitlines())
        except OSError:
            return 0

    def host_pids(self, host):
        """Every process in the host's network namespace (root pid namespace numbers)."""
        out = subprocess.run(["ip", "netns", "pids", f"pcl{host}"], capture_output=True, text=True).stdout
        return {int(p) for p in out.split()}

    @staticmethod
    def comm(pid):
        """A process's name (at most 15 characters), or None when it is gone."""
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return None

    @staticmethod
    def nspid(pid):
        """The pid a process has in its host's pid namespace (as the host's logs name it)."""
        for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
            if ln.startswith("NSpid:"):
                return int(ln.split()[-1])
        raise AssertionError(f"no NSpid for {pid}")

    def registered(self, host):
        """Whether host's fencer holds the fence device (harness/cluster.sh reads its log)."""
        return self.sh("registered", host, check=False).returncode == 0

    def kill(self, host):
        self.sh("kill", host)

    def boot(self, host):
        self.sh("boot", host)

    def cut(self, host):
        self.sh("cut", host)

    def mend(self, host):
        self.sh("mend", host)

    def quorum(self, host):
        """(quorate, total votes) as the host's corosync sees them; (None, 0) when it cannot say."""
        r = self.x(host, "corosync-quorumtool", "-s", timeout=30)
        q = re.search(r"^Quorate:\s+(\w+)", r.stdout, re.M)
        v = re.search(r"^Total votes:\s+(\d+)", r.stdout, re.M)
        return (q.group(1) == "Yes" if q else None), (int(v.group(1)) if v else 0)

    def online(self, host):
        """The nodes Pacemaker on host reports online."""
        r = self.x(host, "crm_mon", "-1", "-r", timeout=30)
        m = re.search(r"Online: \[(.*?)\]", r.stdout)
        return set(m.group(1).split()) if m else set()

    def fence_log(self):
        try:
            return (self.dir / "fence.log").read_text().splitlines()
        except OSError:
            return []

    def fenced(self, host, since=0):
        """The fence daemon's actions on host, after the first `since` lines of its log."""
        return [ln.split()[1] for ln in self.fence_log()[since:] if ln.split()[2:3] == [host]]

    def live(self):
        return [h for h in self.hosts if self.init_pid(h)]

    def cib(self, host, *args):
        return self.x(host, "cibadmin", *args, check=True).stdout

    def resource_where(self, host, rsc):
        """The nodes crm_resource --locate names for rsc, as Pacemaker on host sees them."""
        r = self.x(host, "crm_resource", "--locate", "-r", rsc, timeout=30)
        return re.findall(r"is running on: (\S+)", r.stdout)

    def vm_state(self, host, name):
        """What host's petreld says of VM name: its state, None when petreld does not know it,
        "unreachable" when the host or its petreld is down."""
        if not self.init_pid(host):
            return "unreachable"
        r = self.x(host, str(BUILD / "petrelctl"), "--json", "info", name, timeout=30)
        if r.returncode == 4:
            return None
        if r.returncode != 0:
            return "unreachable"
        return json.loads(r.stdout).get("state")

    def counts(self, host, name):
        """The count=N lines of the counter guest's console on host (its recent output)."""
        r = self.x(host, "timeout", "4", str(BUILD / "petrelctl"), "console", name, timeout=30)
        return [int(m) for m in re.findall(r"^count=(\d+)", r.stdout, re.M)]

    def worker_log(self, host, name):
        """Where host's petreld logs VM name's worker (its console): outside the host, so it
        outlives a kill (harness/cluster.sh binds it over /run/petreld/logs)."""
        return self.dir / "hosts" / host / "petreld-logs" / f"{name}.worker.log"

    def log_text(self, host, name):
        """VM name's petreld log on host (its events, one per line after a time stamp), "" if none."""
        try:
            return (self.dir / "hosts" / host / "petreld-logs" / f"{name}.log").read_text()
        except OSError:
            return ""

    def log_size(self, host, name):
        try:
            return self.worker_log(host, name).stat().st_size
        except OSError:
            return 0

    def console(self, host, name, since=0):
        """VM name's console on host from byte `since` of its worker log, petrel's own log
        lines taken out."""
        try:
            with open(self.worker_log(host, name), "rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        # a log line may land in the middle of a console line: cut it out where it stands
        return PETREL_LINE.sub("", text)

    def diagnose(self):
        """What each host says of the cluster, for a failed test's report: its init, quorum and
        membership as Corosync and Pacemaker see them, and the last notable lines of its logs
        (they live on tmpfs and are gone once the fixture takes the cluster down)."""
        out = [self.sh("status", check=False, timeout=60).stdout]
        notable = re.compile(r"\b(error|crit|warning):|fatal|allegedly|terminated|now lost|respawn|"
                             r"shutting down|Pacemaker is ready", re.I)
        for h in self.hosts:
            out.append(f"== {h}: init {self.init_pid(h)}")
            if self.init_pid(h):
                out.append(self.x(h, "corosync-quorumtool", "-s", timeout=30).stdout)
            base = self.dir / "hosts" / h
            for log, n, pick in (("var/log/petrel-cluster.log", 10, None),
                                 ("var/log/pacemaker/pacemaker.log", 25, notable),
                                 ("var/log/corosync/corosync.log", 10, None)):
                try:
                    lines = (base / log).read_text(errors="replace").splitlines()
                except OSError:
                    continue
                lines = [ln for ln in lines if not pick or pick.search(ln)][-n:]
                out.append(f"-- {h} {log}:\n" + "\n".join(lines))
        out.append("-- fence.log:\n" + "\n".join(self.fence_log()[-20:]))
        return "\n".join(out)

    def running_on(self, name):
        """The hosts whose petreld says VM name runs."""
        return [h for h in self.hosts if self.vm_state(h, name) in ("running", "paused")]


@contextlib.contextmanager
def running(n=3, **kw):
    """A cluster of n hosts, taken down however the block ends (a failed test, an error, ^C)."""
    c = Cluster(n, **kw).up()
    try:
        yield c
    finally:
        c.down()


# Every wait's timeout times this (PETREL_CLUSTER_TIME_SCALE): under nested KVM on QEMU's TCG
# everything runs many times slower than on hardware
SCALE = float(os.environ.get("PETREL_CLUSTER_TIME_SCALE", "1"))


def wait(cond, timeout, what, step=0.25):
    timeout *= SCALE
    step *= SCALE   # each look spawns processes in the hosts: fewer of them on a slow machine
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def vm_definition(path, name, kernel, disk=None, boot_args=None):
    """A petreld definition of the counter test guest on the shared storage."""
    doc = {"boot-source": {"kernel_image_path": str(kernel), **({"boot_args": boot_args} if boot_args else {})},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
           "petrel": {"name": name}}
    if disk:
        doc["drives"] = [{"drive_id": "d0", "path_on_host": str(disk), "is_root_device": False,
                          "is_read_only": False}]
    Path(path).write_text(json.dumps(doc, indent=1))
    return path


def vm_resource(rid, config, promotable=False, monitor="2s", **params):
    """The CIB XML of a petrel-vm resource: a primitive that may live-migrate, or a promotable
    clone of two instances (replicated VM)."""
    # fewer monitors on a slow machine (PETREL_CLUSTER_TIME_SCALE)
    monitor = f"{float(monitor.rstrip('s')) * SCALE:g}s"
    # and every operation's timeout stretched: under nested KVM a probe took more than 30 s and
    # a stop after a failed start more than 60 s (which got the host fenced)
    def to(s):
        return f"{s * SCALE:g}s"
    mto = to(30)
    params = {"config": config, "petrelctl": BUILD / "petrelctl", "shutdown_timeout": 10, **params}
    if promotable:
        # the agent's default, stretched: in the 18:14 nested run the pair broke 1 s after it was
        # protected (petrel's own default of 1000 ms then) and the VM ran on unprotected
        params.setdefault("replication_timeout", f"{5000 * SCALE:.0f}")
    ia = "".join(f'<nvpair id="{rid}-{k}" name="{k}" value="{v}"/>' for k, v in params.items())
    ops = (f'<op id="{rid}-start" name="start" interval="0" timeout="{to(90)}"/>'
           f'<op id="{rid}-stop" name="stop" interval="0" timeout="{to(60)}"/>'
           f'<op id="{rid}-migrate-to" name="migrate_to" interval="0" timeout="{to(120)}"/>'
           f'<op id="{rid}-migrate-from" name="migrate_from" interval="0" timeout="{to(60)}"/>')
    if promotable:
        ops += (f'<op id="{rid}-mon-p" name="monitor" interval="{monitor}" role="Promoted" timeout="{mto}"/>'
                f'<op id="{rid}-mon-u" name="monitor" interval="{3 * SCALE:g}s" role="Unpromoted" timeout="{mto}"/>'
                f'<op id="{rid}-promote" name="promote" interval="0" timeout="{to(120)}"/>'
                f'<op id="{rid}-demote" name="demote" interval="0" timeout="{to(60)}"/>'
                # a primary's first sync to its standby happens in a notify
                f'<op id="{rid}-notify" name="notify" interval="0" timeout="{to(150)}"/>')
    else:
        ops += f'<op id="{rid}-mon" name="monitor" interval="{monitor}" timeout="{mto}"/>'
    prim = (f'<primitive id="{rid}" class="ocf" provider="petrel" type="petrel-vm">'
            f'<instance_attributes id="{rid}-ia">{ia}</instance_attributes>'
            + ('' if promotable else
               f'<meta_attributes id="{rid}-meta"><nvpair id="{rid}-am" name="allow-migrate" value="true"/>'
               '</meta_attributes>')
            + f'<operations>{ops}</operations></primitive>')
    if not promotable:
        return prim
    return (f'<clone id="{rid}-clone"><meta_attributes id="{rid}-clone-meta">'
            f'<nvpair id="{rid}-p" name="promotable" value="true"/>'
            f'<nvpair id="{rid}-cm" name="clone-max" value="2"/>'
            f'<nvpair id="{rid}-pm" name="promoted-max" value="1"/>'
            f'<nvpair id="{rid}-n" name="notify" value="true"/>'
            f'</meta_attributes>{prim}</clone>')
