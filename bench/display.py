#!/usr/bin/env python3
"""A guest scrolling text on its framebuffer, watched over VNC: petrel's bochs-display and VNC
server (libvncserver in the worker) beside QEMU's bochs-display and its own VNC server, the same
guest (issue 56's Performance; docs/display.md#figures-the-scrolling-console).

  python3 bench/display.py          full run: paces 30 and 60 scrolls/s, raw and ZRLE, 3 runs
                                    of each, petrel and QEMU alternating; medians
  BENCH_QUICK=1 python3 bench/display.py   one short run of each (the suite's quick mode)
  python3 bench/display.py --check  exit 1 unless, in every cell, petrel's updates/s are at least
                                    QEMU's (within 2 %) and its host CPU per update at most
                                    QEMU's (medians; scripts/pvm-proofs.sh display)
  env: BENCH_DISPLAY_PACES=30,60, BENCH_DISPLAY_ENCODINGS=raw,zrle (raw, zlib, zrle),
       BENCH_DISPLAY_REPEAT=3, BENCH_DISPLAY_SECONDS=10 (per run), BENCH_DISPLAY_SIZE=1024x768,
       BENCH_QEMU=0 (no QEMU rows)

The guest (tests/guests/display.c with scroll=HZ, display_scroll.c) programs the mode, fills the
screen with text and prints "display: ready"; the bench connects a VNC client (RFB 3.8, the pixel
format XRGB8888, one encoding plus DesktopSize), reads a full frame, reads the VMM's CPU time
and sends the guest a byte. The guest then scrolls one text line (16 pixel rows) per tick of
its PIT, the whole screen moving as fbcon scrolls, halting between ticks; the client asks for an
incremental update as soon as the previous one has been read, all the time. At "display: done"
the bench reads the CPU time again. Reported per run: frame updates received per second, host
CPU per update (the VMM process, every thread; and without its vCPU threads: the VNC server
and the rest of the VMM alone), bytes per update (the whole FramebufferUpdate message); for petrel also the CPU its VNC thread
spent comparing the dirty lines with its shadow of the frame (logged by the worker), per update.

petrel: `petrel --no-api --config-file` with a "display" section (bochs, the size, no tablet,
vnc_socket in a temporary directory). QEMU 7.2: machine pc with KVM, `-device bochs-display` of the same EDID
size, `-vnc unix:PATH`, the guest's PVH ELF as -kernel (SeaBIOS starts it, as in
bench/e1000.py), `-name ...,debug-threads=on` so that its vCPU threads are named ("CPU 0/KVM").
QEMU's VNC server looks for changes every 30 ms while a client waits (its refresh timer), petrel's
every 15 ms: the pace of 60 scrolls/s shows that, 30/s is within both.
"""
import json
import os
import pathlib
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
GUEST = BUILD / "tests" / "guests" / "display.elf"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ENCODINGS = {"raw": 0, "zlib": 6, "zrle": 16}
DESKTOP_SIZE = -223
VCPU_THREAD = re.compile(r"^(fc_vcpu \d+|CPU \d+/KVM)$")


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def cpu_of(pid):
    """(every thread's CPU seconds, the vCPU threads' CPU seconds) of process pid now."""
    total = vcpu = 0.0
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            st = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue   # a thread that just ended
        t = (int(st[11]) + int(st[12])) / CLK_TCK   # utime, stime
        total += t
        if VCPU_THREAD.match(comm):
            vcpu += t
    return total, vcpu


class Viewer:
    """A lean RFB 3.8 client for counting (tests/vnc/rfblib.py is the one that decodes): it
    reads each update's bytes without keeping pixels, so that the client costs little beside
    the VMM on a 2-CPU host."""

    def __init__(self, path, encoding):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(str(path))
        self.buf = bytearray(1 << 20)
        self.encoding = encoding
        self.updates = []   # (monotonic time, bytes) per update received
        self.stop = False
        self.error = None

    def recv(self, n):
        out = bytearray()
        while len(out) < n:
            c = self.s.recv(n - len(out))
            if not c:
                raise ConnectionError("the VNC server closed")
            out += c
        return bytes(out)

    def skip(self, n):
        view = memoryview(self.buf)
        while n:
            got = self.s.recv_into(view[:min(n, len(self.buf))])
            if not got:
                raise ConnectionError("the VNC server closed")
            n -= got

    def handshake(self):
        if not self.recv(12).startswith(b"RFB 003."):
            raise ConnectionError("not an RFB server")
        self.s.sendall(b"RFB 003.008\n")
        types = self.recv(self.recv(1)[0])
        if 1 not in types:
            raise ConnectionError(f"no security type None: {list(types)}")
        self.s.sendall(b"\x01")
        if struct.unpack(">I", self.recv(4))[0]:
            raise ConnectionError("security handshake failed")
        self.s.sendall(b"\x01")   # shared
        self.w, self.h = struct.unpack(">HH", self.recv(4))
        self.recv(16)
        self.recv(struct.unpack(">I", self.recv(4))[0])
        self.s.sendall(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
        encs = [self.encoding, DESKTOP_SIZE]
        self.s.sendall(struct.pack(">BxH", 2, len(encs)) + b"".join(struct.pack(">i", e) for e in encs))

    def request(self, incremental):
        self.s.sendall(struct.pack(">BBHHHH", 3, 1 if incremental else 0, 0, 0, self.w, self.h))

    def read_update(self):
        """One server message; the bytes of a FramebufferUpdate, or None for another message."""
        t = self.recv(1)[0]
        if t != 0:
            if t == 2:
                return None
            if t == 3:
                self.recv(3)
                self.skip(struct.unpack(">I", self.recv(4))[0])
                return None
            raise ConnectionError(f"server message type {t}")
        (n,) = struct.unpack(">xH", self.recv(3))
        size = 4
        for _ in range(n):
            x, y, w, h, enc = struct.unpack(">HHHHi", self.recv(12))
            size += 12
            if enc == 0:
                body = w * h * 4
            elif enc in (6, 16):   # zlib, ZRLE: a length, then the compressed data
                body = struct.unpack(">I", self.recv(4))[0]
                size += 4
            elif enc == DESKTOP_SIZE:
                self.w, self.h, body = w, h, 0
            else:
                raise ConnectionError(f"an encoding not asked for: {enc}")
            self.skip(body)
            size += body
        return size

    def full_frame(self):
        self.request(False)
        while self.read_update() is None:
            pass

    def run(self):
        """Ask and read incremental updates until stop, recording each."""
        try:
            while not self.stop:
                self.request(True)
                size = None
                while size is None and not self.stop:
                    try:
                        size = self.read_update()
                    except socket.timeout:
                        continue
                if size is not None:
                    self.updates.append((time.monotonic(), size))
        except Exception as e:   # noqa: BLE001 - reported by the run
            if not self.stop:
                self.error = e

    def close(self):
        self.stop = True
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()


def run_one(vmm, cmd, sock, encoding, timeout):
    """Start the VMM, watch the scroll; a dict of figures, or a string saying what failed."""
    with tempfile.TemporaryFile("w+") as errf:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf, text=True)
        watchdog = threading.Timer(timeout, p.kill)
        watchdog.start()
        out, viewer, thread, marks, guest = [], None, None, {}, None
        try:
            for line in p.stdout:
                out.append(line)
                if "display: ready" in line and "ready" not in marks:
                    viewer = Viewer(sock, ENCODINGS[encoding])
                    viewer.handshake()
                    viewer.full_frame()
                    thread = threading.Thread(target=viewer.run, daemon=True)
                    marks["ready"] = (time.monotonic(), cpu_of(p.pid))
                    thread.start()
                    p.stdin.write("g")
                    p.stdin.flush()
                m = re.search(r"display: scrolled frames=(\d+) missed=(\d+) tsc=(\d+) tsc_hz=(\d+)", line)
                if m:
                    guest = tuple(map(int, m.groups()))
                if "display: done" in line and "done" not in marks:
                    marks["done"] = (time.monotonic(), cpu_of(p.pid))
                    n_done = len(viewer.updates) if viewer else 0
                    viewer.stop = True
                    p.stdin.write("g")
                    p.stdin.flush()
            p.wait(timeout=60)
        except (OSError, ConnectionError, subprocess.TimeoutExpired) as e:
            out.append(f"bench: {e!r}\n")
            p.kill()
            p.wait()
        finally:
            watchdog.cancel()
            if viewer:
                viewer.close()
            if thread:
                thread.join(timeout=5)
        errf.seek(0)
        err = errf.read()
    if "ready" not in marks or "done" not in marks or guest is None:
        return f"{vmm}: no scroll seen (exit {p.returncode}): {(''.join(out) + err)[-400:]}"
    if viewer.error:
        return f"{vmm}: the VNC client failed: {viewer.error!r}"
    (t0, (c0, v0)), (t1, (c1, v1)) = marks["ready"], marks["done"]
    ups = [u for u in viewer.updates[:n_done] if t0 <= u[0] <= t1]
    if not ups:
        return f"{vmm}: no update in the window"
    frames, missed, tsc, hz = guest
    secs = t1 - t0
    n = len(ups)
    # petrel's VNC thread logs what its compare with the shadow of the frame cost while the
    # viewer looked (src/ui/vnc.c): per update received in all
    cmp = re.search(r"vnc: shadow compare: (\d+) looks, .* CPU (\d+) us", err)
    cmp_us = int(cmp.group(2)) / len(viewer.updates) if cmp and viewer.updates else None
    return dict(ups=n / secs, cpu_us=(c1 - c0) / n * 1e6, vmm_us=((c1 - c0) - (v1 - v0)) / n * 1e6,
                bytes=sum(b for _, b in ups) / n, scrolls=frames / (tsc / hz) if tsc else 0.0, missed=missed,
                n=n, cpu_pct=(c1 - c0) / secs * 100, cmp_us=cmp_us)


def petrel_cmd(tmp, size, args):
    w, h = size
    sock = tmp / "petrel-vnc.sock"
    cfg = tmp / "vm.json"
    # a Firecracker --config-file (the controller serves VNC: `petrel run` has no server)
    cfg.write_text(json.dumps({
        "boot-source": {"kernel_image_path": str(GUEST), "boot_args": args},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
        "display": {"model": "bochs", "width": w, "height": h, "tablet": False, "vnc_socket": str(sock)}}))
    return [str(PETREL), "--no-api", "--config-file", str(cfg), "--debug-exit", "--level", "Info"], sock


def qemu_cmd(tmp, size, args):
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return None, None
    w, h = size
    sock = tmp / "qemu-vnc.sock"
    cpu = "host,-arch-capabilities" if os.path.exists("/sys/module/kvm_pvm") else "host"
    return [qemu, "-M", "pc", "-accel", "kvm", "-cpu", cpu, "-m", "128", "-nodefaults", "-no-reboot",
            "-name", "bench-display,debug-threads=on", "-serial", "stdio", "-monitor", "none",
            "-kernel", str(GUEST), "-append", args,
            "-device", f"bochs-display,xres={w},yres={h}", "-vnc", f"unix:{sock}",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4"], sock


def main():
    for f in (PETREL, GUEST):
        if not f.exists():
            sys.exit(f"display: {f} is not built (ninja -C {BUILD})")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("display: no /dev/kvm; skipped")
        return
    paces = [int(x) for x in os.environ.get("BENCH_DISPLAY_PACES", "30,60").split(",")]
    encodings = os.environ.get("BENCH_DISPLAY_ENCODINGS", "raw,zrle").split(",")
    repeat = benchlib.runs("BENCH_DISPLAY_REPEAT", 3)
    secs = float(os.environ.get("BENCH_DISPLAY_SECONDS", benchlib.pick("10", "2")))
    if benchlib.QUICK:
        paces = paces[:1]
    size = tuple(int(x) for x in os.environ.get("BENCH_DISPLAY_SIZE", "1024x768").split("x"))
    qemu = os.environ.get("BENCH_QEMU", "1") != "0"
    host = "PVM" if os.path.exists("/sys/module/kvm_pvm") else \
        "nested" if "hypervisor" in open("/proc/cpuinfo").read() else "bare metal"
    print(f"Scrolling console over VNC ({'quick' if benchlib.QUICK else 'full'}; KVM: {host}; "
          f"{size[0]}x{size[1]}, {secs:g} s per run, {repeat} run(s) each)", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="petrel-bench-display-") as d:
        tmp = pathlib.Path(d)
        for enc in encodings:
            for pace in paces:
                args = f"scroll={pace} frames={int(pace * secs)} w={size[0]} h={size[1]}"
                for _ in range(repeat):
                    for vmm, make in (("petrel", petrel_cmd), ("QEMU", qemu_cmd)):
                        if vmm == "QEMU" and not qemu:
                            continue
                        cmd, sock = make(tmp, size, args)
                        if cmd is None:
                            print("  QEMU: no qemu-system-x86_64; its rows are left out")
                            qemu = False
                            continue
                        if sock.exists():
                            sock.unlink()
                        r = run_one(vmm, cmd, sock, enc, timeout=secs * 4 + 240)
                        if isinstance(r, str):
                            benchlib.failed(f"  {enc} {pace}/s {r}")
                            r = None
                        else:
                            print(f"  {vmm:6s} {enc:4s} {pace:3d} scrolls/s: {r['ups']:6.1f} updates/s "
                                  f"({r['n']} updates, guest {r['scrolls']:.1f} scrolls/s, {r['missed']} ticks missed), "
                                  f"CPU/update {r['cpu_us']:7.0f} us (without vCPUs {r['vmm_us']:6.0f} us), "
                                  f"{r['bytes'] / 1024:7.1f} KiB/update"
                                  + (f", compare {r['cmp_us']:.0f} us/update" if r.get("cmp_us") is not None else ""),
                                  flush=True)
                        results.setdefault((enc, pace, vmm), []).append(r)
    ok = table(results, encodings, paces)
    if "--check" in sys.argv[1:] and not ok:
        print("display --check: the goal (updates/s at least QEMU's, CPU per update at most QEMU's) was not "
              "met in every cell, or QEMU did not run")
        sys.exit(1)


def table(results, encodings, paces):
    print("\n| encoding | guest scrolls/s | VMM | updates/s | host CPU/update | without vCPU threads "
          "| KiB/update | runs |")
    print("|---|---|---|---|---|---|---|---|")
    med = {}
    for enc in encodings:
        for pace in paces:
            for vmm in ("petrel", "QEMU"):
                runs = [r for r in results.get((enc, pace, vmm), []) if r]
                if not runs:
                    continue
                m = {k: median([r[k] for r in runs]) for k in ("ups", "cpu_us", "vmm_us", "bytes")}
                med[(enc, pace, vmm)] = m
                print(f"| {enc} | {pace} | {vmm} | {m['ups']:.1f} | {m['cpu_us']:.0f} us | {m['vmm_us']:.0f} us "
                      f"| {m['bytes'] / 1024:.1f} | {len(runs)} |")
                cmps = [r["cmp_us"] for r in runs if r.get("cmp_us") is not None]
                if cmps:
                    med[(enc, pace, vmm)]["cmp_us"] = median(cmps)
    for (enc, pace, vmm), m in med.items():
        if "cmp_us" in m:
            print(f"petrel's compare with its shadow of the frame, {enc}, {pace} scrolls/s: "
                  f"{m['cmp_us']:.0f} us of CPU per update (median; in the CPU per update above)")
    met, compared = True, 0
    for enc in encodings:
        for pace in paces:
            p, q = med.get((enc, pace, "petrel")), med.get((enc, pace, "QEMU"))
            if not p or not q:
                met = False
                continue
            compared += 1
            ok = p["ups"] >= q["ups"] * 0.98 and p["cpu_us"] <= q["cpu_us"]
            met &= ok
            print(f"petrel vs QEMU, {enc}, {pace} scrolls/s: {p['ups'] / q['ups']:.2f}x the updates/s, "
                  f"{p['cpu_us'] / q['cpu_us']:.2f}x the CPU per update "
                  f"({p['vmm_us'] / q['vmm_us'] if q['vmm_us'] else float('nan'):.2f}x without vCPU threads), "
                  f"{p['bytes'] / q['bytes']:.2f}x the bytes{'' if ok else '  <- goal not met'}")
    return met and compared > 0


if __name__ == "__main__":
    main()
