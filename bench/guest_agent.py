#!/usr/bin/env python3
"""The guest agent beside QEMU's (issue 57, docs/guest-agent.md): prints figures, asserts nothing.

  python3 bench/guest_agent.py [--quick]      (root; KVM that runs a Linux guest at speed: hardware
                                               KVM or scripts/nested-kvm.sh, not a PVM host)

The Debian cloud template (scripts/mkimage.sh debian-cloud, with Debian's qemu-guest-agent; the
image cache PETREL_IMAGE_DIR) on a qcow2 overlay, booted twice with the same cloud-init seed and
the same agent:
- by petreld from its disk (`from_disk`), `"guest-agent": {"enabled": true}`: the agent's round
  trip is `GET /vms/NAME/guest/ping` through petreld and the worker (each an HTTP request on a
  Unix socket); the time frozen per backup is the `frozen_ms` of `POST /vms/NAME/backup`
  `{"consistency": "filesystem"}` (freeze, pause, memory + state + disks, resume, thaw), and
  of it the part the guest ran frozen (frozen_ms less the pause the worker logs: "guest paused
  for X ms");
- by QEMU (machine pc, SeaBIOS, GRUB from the disk), the agent on a virtserialport whose chardev
  is a Unix socket, as libvirt gives it: the round trip is guest-ping on that socket (no HTTP,
  no relay); the time frozen per backup is guest-fsfreeze-freeze, QMP drive-backup (sync full:
  the job starts with its point in time and copies after) and guest-fsfreeze-thaw, as libvirt
  and Proxmox do it (the job waited for before the next round).
Rounds: BENCH_GA_PINGS pings (default 50, quick 10) and BENCH_GA_BACKUPS backups (default 3,
quick 1) each, medians. The VM has 1 GiB and one vCPU; petrel's backup writes its memory.
"""
import json
import os
import re
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import petrel_test  # noqa: E402,F401  (the test folders' helpers by name)
sys.path.append(str(ROOT / "tests" / "linux"))   # the template's helpers (diskbootlib)
import benchlib  # noqa: E402
import diskbootlib  # noqa: E402
import fwlib  # noqa: E402
import mgrlib  # noqa: E402
from test_linux_cloudinit import wait_console  # noqa: E402

QUICK = "--quick" in sys.argv[1:] or benchlib.QUICK
PINGS = int(os.environ.get("BENCH_GA_PINGS", 10 if QUICK else 50))
BACKUPS = int(os.environ.get("BENCH_GA_BACKUPS", 1 if QUICK else 3))
NAME = "gab"
READY = r"PETREL-QGA (\S+) end"
USER_DATA = "#cloud-config\n" + json.dumps({"runcmd": [
    ["sh", "-c", "echo PETREL-QGA $(systemctl is-active qemu-guest-agent) end >/dev/ttyS0"]]})


def med(xs):
    return statistics.median(xs) if xs else float("nan")


# --- petrel, through petreld ---------------------------------------------------------------------

def petrel_rows(p, base):
    diskbootlib.define(p, base, NAME, "disk", USER_DATA, fc={"guest-agent": {"enabled": True, "timeout_ms": 10000}})
    console = diskbootlib.console_of(p, NAME)
    t0 = time.monotonic()
    r = p.ctl("start", NAME, timeout=300)
    if r.returncode:
        raise RuntimeError(f"petreld's start: {r.stderr}")
    wait_console(console, READY, diskbootlib.BOOT_TIMEOUT_S)
    boot = time.monotonic() - t0
    end = time.monotonic() + 120
    while p.api("GET", f"/vms/{NAME}/guest/ping")[0] != 200:
        if time.monotonic() > end:
            raise RuntimeError("the agent does not answer through petreld")
        time.sleep(1)
    rtt = []
    for _ in range(PINGS):
        t = time.monotonic()
        st, body = p.api("GET", f"/vms/{NAME}/guest/ping")
        rtt.append((time.monotonic() - t) * 1000)
        if st != 200:
            raise RuntimeError(f"guest ping: {body}")
    frozen, running_frozen = [], []
    for i in range(BACKUPS):
        st, body = p.api("POST", f"/vms/{NAME}/backup", {"name": f"b{i}", "consistency": "filesystem"}, timeout=900)
        if st not in (200, 201):
            raise RuntimeError(f"backup: {body}")
        meta = json.loads((p.root / "snap" / f"{NAME}.backups" / f"b{i}" / "meta.json").read_text())
        frozen.append(meta["frozen_ms"])
        # the worker's log line: "backup: DIR, guest paused for X ms (Y ms in all)"
        paused = re.findall(r"backup: \S+, guest paused for ([\d.]+) ms", console.read_text(errors="replace"))
        if paused:
            running_frozen.append(meta["frozen_ms"] - float(paused[-1]))
    p.ctl("destroy", NAME)
    return {"boot_s": boot, "rtt_ms": rtt, "frozen_ms": frozen, "running_frozen_ms": running_frozen}


# --- QEMU, the agent on a socket, QMP for the backup -----------------------------------------------

class Lines:
    """JSON lines from a Unix socket (an agent's or QMP's)."""

    def __init__(self, path, timeout=30):
        end = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(str(path))
                break
            except OSError:
                self.s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)
        self.buf = b""

    def send(self, obj, raw=b""):
        self.s.sendall(raw + json.dumps(obj).encode() + b"\n")

    def line(self, timeout=30):
        self.s.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("the socket closed")
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\n", 1)
        return json.loads(ln.lstrip(b"\xff") or b"{}")

    def answer(self, obj, timeout=30):
        """obj's return; events (QMP) skipped."""
        self.send(obj)
        while True:
            o = self.line(timeout)
            if "return" in o:
                return o["return"]
            if "error" in o:
                raise RuntimeError(f"{obj['execute']}: {o['error']}")


def agent_sync(a, timeout):
    """guest-sync-delimited until the agent answers (it starts after the guest's boot)."""
    end = time.monotonic() + timeout
    n = 1000
    while True:
        n += 1
        try:
            a.send({"execute": "guest-sync-delimited", "arguments": {"id": n}}, raw=b"\xff")
            while True:
                o = a.line(timeout=5)
                if o.get("return") == n:
                    return
        except (OSError, EOFError, ValueError):
            if time.monotonic() > end:
                raise RuntimeError("QEMU's guest agent does not answer")
            time.sleep(1)


def qemu_rows(p, base, tmp):
    seed = p.defs / f"{NAME}.cidata"
    overlay = tmp / "qemu.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(overlay),
                    f"{diskbootlib.OVERLAY_GIB}G"], check=True)
    shutil.copy(seed, tmp / "seed.img")
    qga, qmp, console = tmp / "qga.sock", tmp / "qmp.sock", tmp / "qemu-console.log"
    argv = [fwlib.QEMU, "-accel", "kvm", "-cpu", "host", "-machine", "pc", "-m", "1024", "-smp", "1",
            "-bios", str(fwlib.SEABIOS), "-nographic", "-monitor", "none", "-serial", f"file:{console}",
            "-drive", f"file={overlay},format=qcow2,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0",
            "-drive", f"file={tmp / 'seed.img'},format=raw,if=none,id=d1,readonly=on", "-device", "virtio-blk-pci,drive=d1",
            "-device", "virtio-serial-pci", "-chardev", f"socket,path={qga},server=on,wait=off,id=qga0",
            "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
            "-qmp", f"unix:{qmp},server=on,wait=off"]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_console(console, READY, diskbootlib.BOOT_TIMEOUT_S)
        boot = time.monotonic() - t0
        a = Lines(qga)
        agent_sync(a, 120)
        rtt = []
        for _ in range(PINGS):
            t = time.monotonic()
            a.answer({"execute": "guest-ping"})
            rtt.append((time.monotonic() - t) * 1000)
        q = Lines(qmp)
        q.line()   # the greeting
        q.answer({"execute": "qmp_capabilities"})
        frozen = []
        for i in range(BACKUPS):
            target = tmp / f"qemu-b{i}.qcow2"
            t = time.monotonic()
            a.answer({"execute": "guest-fsfreeze-freeze"}, timeout=60)
            q.answer({"execute": "drive-backup", "arguments": {"job-id": f"b{i}", "device": "d0", "sync": "full",
                                                              "target": str(target), "format": "qcow2"}})
            a.answer({"execute": "guest-fsfreeze-thaw"}, timeout=60)
            frozen.append((time.monotonic() - t) * 1000)
            end = time.monotonic() + 900
            while q.answer({"execute": "query-block-jobs"}):
                if time.monotonic() > end:
                    raise RuntimeError("QEMU's backup job does not end")
                time.sleep(0.2)
        return {"boot_s": boot, "rtt_ms": rtt, "frozen_ms": frozen}
    finally:
        proc.kill()
        proc.wait()


def main():
    if os.path.exists("/sys/module/kvm_pvm"):
        print("bench/guest_agent.py: a Linux guest's boot takes tens of minutes on a PVM host: run it under "
              "scripts/nested-kvm.sh or on hardware KVM")
        return
    if os.geteuid() != 0 or not os.access("/dev/kvm", os.R_OK | os.W_OK) or not shutil.which("mmdebstrap") \
            or not shutil.which(fwlib.QEMU):
        print("bench/guest_agent.py: needs root, /dev/kvm, mmdebstrap (the template) and qemu-system-x86_64")
        return
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-ga-"))
    p = mgrlib.Petreld().start()
    try:
        base = diskbootlib.template(p)
        pet = petrel_rows(p, base)
        qem = qemu_rows(p, base, tmp)
    except (RuntimeError, EOFError, OSError) as e:
        benchlib.failed(f"guest agent: {e}")
        return
    finally:
        p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"guest agent, Debian's qemu-guest-agent in the cloud template, 1 vCPU, 1 GiB; {PINGS} pings, "
          f"{BACKUPS} backup(s) each, medians")
    print(f"  boot to cloud-init's runcmd:   petrel {pet['boot_s']:6.1f} s    QEMU {qem['boot_s']:6.1f} s")
    print(f"  agent round trip (guest-ping): petrel {med(pet['rtt_ms']):6.2f} ms (petreld's API)   "
          f"QEMU {med(qem['rtt_ms']):6.2f} ms (the agent's socket)   petrel/QEMU {med(pet['rtt_ms']) / med(qem['rtt_ms']):5.2f}")
    run = f", of it running frozen {med(pet['running_frozen_ms']):.0f} ms" if pet["running_frozen_ms"] else ""
    print(f"  time frozen per backup:        petrel {med(pet['frozen_ms']):6.0f} ms{run}   "
          f"QEMU {med(qem['frozen_ms']):6.0f} ms (freeze, drive-backup started, thaw)   "
          f"petrel/QEMU {med(pet['frozen_ms']) / med(qem['frozen_ms']):5.2f}")


if __name__ == "__main__":
    main()
