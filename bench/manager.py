#!/usr/bin/env python3
"""petreld's figures (issue 37, docs/manager.md#figures): petreld's RSS and CPU while idle with
N VMs, `petrelctl list --all` latency (median of 20), petreld's start with N definitions,
re-adoption of N workers after a kill -9 of petreld; beside them the peer, libvirtd with QEMU
(Debian's packages): libvirtd's RSS and CPU idle with N defined domains and `virsh list --all`.
With /dev/kvm: R running VMs of the idle test guest (jailed, started 2 per CPU at a time), petreld idle
with them, list, their re-adoption after a kill -9 of petreld; and C clones of one snapshot
(POST /vms/NAME/clone: overlays made, definitions written, every clone running). Prints
figures; asserts nothing.

  sudo python3 bench/manager.py [N] [--running R] [--clones C] [--no-libvirt]
        (default N 1000 defined, R 100 running, C 100 clones)
  sudo python3 bench/manager.py --quick      (what the test suite runs: 20 defined, 2 running, 2 clones)

Without /dev/kvm the VMs are defined only (no worker runs): the rows that need running
workers say so. Goals (issue 37): RSS <= 16 MiB and CPU <= 1% idle at 100 and 1000 VMs;
list <= 20 ms at 1000; re-adoption of 1000 workers <= 1 s; 100 clones running <= 3 s.
"""
import concurrent.futures
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import petrel_test  # noqa: F401,E402  (the shared test framework: mgrlib ...)
import mgrlib  # noqa: E402


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime + stime (fields 14, 15)


def idle_cpu_pct(pid, seconds):
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    time.sleep(seconds)
    return 100.0 * (cpu_ticks(pid) - c0) / hz / (time.monotonic() - t0)


def list_ms(p, runs=20):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = p.ctl("list", "--all")
        times.append((time.perf_counter() - t0) * 1000)
        assert r.returncode == 0, r.stderr
    return statistics.median(times)


def api_list_ms(p, runs=20, path="/vms"):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        st, _ = p.api("GET", path)
        times.append((time.perf_counter() - t0) * 1000)
        assert st == 200
    return statistics.median(times)


FLOOR = ["/bin/true"] if os.access("/bin/true", os.X_OK) else ["/bin/sh", "-c", ":"]


def exec_floor_ms(runs=20):
    """What starting any process costs here: /bin/true (or, where it cannot run, sh -c :),
    median of runs."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(FLOOR)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def started_in_ms(p):
    t0 = time.perf_counter()
    p.start()
    return (time.perf_counter() - t0) * 1000


def adoption(p, timeout=120):
    """petreld's two adoption lines (adopt.c): the workers adopted (before the API answers) and,
    in the background, their states confirmed by the workers themselves."""
    deadline = time.monotonic() + timeout
    while True:
        log = p.log.read_text().splitlines()
        last = max([i for i, line in enumerate(log) if "worker(s) adopted," in line], default=-1)
        adopted = log[last:last + 1] if last >= 0 else []
        confirmed = [line for line in log[last + 1:] if "confirmed by the workers" in line]
        if adopted and (confirmed or " 0 worker(s) adopted" in adopted[-1]):
            break
        assert time.monotonic() < deadline, "petreld did not confirm the adopted workers' states"
        time.sleep(0.02)
    return "; ".join(line.split(": ", 1)[1] for line in adopted[-1:] + confirmed[-1:])


def opt(args, name, default):
    if name in args:
        k = args.index(name)
        v = int(args[k + 1])
        del args[k:k + 2]
        return v
    return default


def timed_ms(cmd, runs=20):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.returncode == 0, r.stderr
    return statistics.median(times)


class Libvirtd:
    """The peer: Debian's libvirtd with its QEMU driver, a session daemon of its own (user
    nobody, every file under a temporary directory: nothing of the host's libvirt is used)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="lv-", dir="/tmp"))
        os.chmod(self.dir, 0o777)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir),
                    "XDG_RUNTIME_DIR": str(self.dir / "run"), "XDG_CONFIG_HOME": str(self.dir / "cfg"),
                    "XDG_CACHE_HOME": str(self.dir / "cache")}
        (self.dir / "run").mkdir(mode=0o700)
        os.chown(self.dir / "run", 65534, 65534)
        self.sock = self.dir / "run" / "libvirt" / "libvirt-sock"
        self.uri = f"qemu+unix:///session?socket={self.sock}"
        self.proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                      "libvirtd", "--timeout", "0"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while subprocess.run(["virsh", "-c", self.uri, "version"], capture_output=True).returncode:
            assert self.proc.poll() is None and time.monotonic() < deadline, "libvirtd did not start"
            time.sleep(0.2)

    def virsh(self, *args):
        r = subprocess.run(["virsh", "-c", self.uri, *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def define(self, n, kernel):
        xml = self.dir / "dom.xml"
        for i in range(n):
            xml.write_text(f"<domain type='qemu'><name>vm{i}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
                           f"<os><type arch='x86_64' machine='pc'>hvm</type><kernel>{kernel}</kernel></os></domain>")
            self.virsh("define", str(xml))

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def libvirt_peer(n, idle_s, runs):
    if not shutil.which("libvirtd") or not shutil.which("virsh"):
        print("  peer libvirtd: not installed (libvirt-daemon-system)")
        return
    try:
        lv = Libvirtd()
    except (AssertionError, OSError) as e:  # the peer's trouble, not petreld's figures
        print(f"  peer libvirtd: not measured, it did not start ({e})")
        return
    try:
        t0 = time.perf_counter()
        lv.define(n, mgrlib.guest("idle"))
        per = (time.perf_counter() - t0) * 1000 / n
        assert lv.virsh("list", "--all").count(" shut off") == n
        pid = lv.proc.pid  # setpriv execs libvirtd: the same process
        print(f"  peer libvirtd {subprocess.run(['libvirtd', '--version'], capture_output=True, text=True).stdout.split()[-1]}"
              f" (QEMU driver, session daemon) with {n} defined domains: RSS {rss_kib(pid) / 1024:.1f} MiB, idle CPU "
              f"{idle_cpu_pct(pid, idle_s):.2f}% of one CPU over {idle_s} s; virsh list --all "
              f"{timed_ms(['virsh', '-c', lv.uri, 'list', '--all'], runs):.2f} ms (median of {runs}); virsh define "
              f"{per:.1f} ms each")
    finally:
        lv.close()


def clone_bench(n, idle_s):
    """A template VM (the idle guest, a 64 MiB raw disk) snapshotted, then n clones of it."""
    p = mgrlib.Petreld().start()
    try:
        disk = p.root / "tmpl.img"
        with open(disk, "wb") as f:
            f.truncate(64 << 20)
        assert p.define("tmpl", kernel=mgrlib.guest("idle"), drives=[
            {"drive_id": "root", "path_on_host": str(disk), "is_root_device": False, "is_read_only": False,
             "format": "raw"}])[0] == 201
        assert p.api("POST", "/vms/tmpl/start", timeout=120)[0] == 200
        assert p.api("POST", "/vms/tmpl/snapshots", {"name": "s"}, timeout=120)[0] == 200
        assert p.api("POST", "/vms/tmpl/destroy")[0] == 200
        t0 = time.perf_counter()
        st, body = p.api("POST", "/vms/tmpl/clone", {"snapshot": "s", "count": n}, timeout=1200)
        ms = (time.perf_counter() - t0) * 1000
        assert st == 200, body
        assert all(c["state"] == "running" for c in body)
        log = [line for line in (p.state / "logs" / "tmpl.log").read_text().splitlines() if "clone(s)" in line][-1]
        pid = p.proc.pid
        print(f"  {n} clones of one snapshot, all running: {ms:.0f} ms ({log.split(': ', 1)[1]}); petreld then: "
              f"RSS {rss_kib(pid) / 1024:.1f} MiB, idle CPU {idle_cpu_pct(pid, idle_s):.2f}%")
    finally:
        p.close()


def main():
    quick = "--quick" in sys.argv
    args = [a for a in sys.argv[1:] if a not in ("--quick", "--no-libvirt")]
    n_run = opt(args, "--running", 2 if quick else 100)
    n_clone = opt(args, "--clones", 2 if quick else 100)
    kvm = mgrlib.has_kvm() and mgrlib.guest("idle").exists()
    n_def = int(args[0]) if args else (20 if quick else 1000)
    idle_s = 1 if quick else 10
    host = "KVM" if kvm else "no KVM"
    print(f"petreld figures ({host}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f})")

    p = mgrlib.Petreld().start()
    try:
        for i in range(n_def):
            st, body = p.define(f"vm{i}")
            assert st == 201, body
        pid = p.proc.pid
        print(f"  {n_def} defined VMs: petreld RSS {rss_kib(pid) / 1024:.1f} MiB, "
              f"idle CPU {idle_cpu_pct(pid, idle_s):.2f}% of one CPU over {idle_s} s")
        print(f"  petrelctl list --all with {n_def} VMs: {list_ms(p):.2f} ms (median of 20; starting "
              f"{' '.join(FLOOR)} costs {exec_floor_ms():.2f} ms here); GET /vms alone: {api_list_ms(p):.2f} ms; "
              f"GET /list (what list asks) alone: {api_list_ms(p, path='/list'):.2f} ms")
        p.stop()
        ms = started_in_ms(p)
        print(f"  petreld start with {n_def} definitions, to its API answering: {ms:.1f} ms")
    finally:
        p.close()

    n_adopt = 20 if quick else n_def
    p = mgrlib.Petreld(jailer=False).start()
    workers = []
    try:
        names = [f"ad{i}" for i in range(n_adopt)]
        for n in names:
            assert p.define(n)[0] == 201
        p.stop(signal.SIGKILL)
        # Real petrel workers (API up, nothing booted: no KVM needed) and their run state.
        workers = mgrlib.leave_workers(p, names)
        print(f"  re-adoption of {n_adopt} unbooted workers after kill -9 of petreld (load average "
              f"{os.getloadavg()[0]:.1f}): API answering in {started_in_ms(p):.1f} ms; {adoption(p)}")
    finally:
        for w in workers:
            w.kill()
            w.wait()
        p.close()

    if "--no-libvirt" not in sys.argv:
        libvirt_peer(5 if quick else n_def, idle_s, 5 if quick else 20)
    if not kvm:
        print("  running workers and clones: skipped (no /dev/kvm or no test guests)")
        return
    p = mgrlib.Petreld().start()
    try:
        names = [f"run{i}" for i in range(n_run)]
        for n in names:
            assert p.define(n, kernel=mgrlib.guest("idle"))[0] == 201
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(2 * os.cpu_count()) as pool:
            for st, body in pool.map(lambda n: p.api("POST", f"/vms/{n}/start", timeout=600), names):
                assert st == 200, body
        ms = (time.perf_counter() - t0) * 1000
        print(f"  {n_run} idle VMs started, {2 * os.cpu_count()} requests at a time: {ms:.0f} ms ({ms / n_run:.1f} ms each)")
        pid = p.proc.pid
        print(f"  {n_run} running VMs: petreld RSS {rss_kib(pid) / 1024:.1f} MiB, "
              f"idle CPU {idle_cpu_pct(pid, idle_s):.2f}% of one CPU over {idle_s} s")
        print(f"  petrelctl list --all with {n_run} running: {list_ms(p):.2f} ms (median of 20); "
              f"GET /vms alone: {api_list_ms(p):.2f} ms")
        p.stop(signal.SIGKILL)
        ms = started_in_ms(p)
        print(f"  after kill -9 of petreld: API answering again in {ms:.1f} ms; {adoption(p)}")
    finally:
        p.close()
    clone_bench(n_clone, idle_s)


if __name__ == "__main__":
    main()
