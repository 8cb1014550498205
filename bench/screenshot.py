#!/usr/bin/env python3
"""What petreld's GET /vms/NAME/screenshot costs (docs/display.md#thumbnails): whether the VM
list can show thumbnails of the screens.

  python3 bench/screenshot.py        30 screenshots of a 1024x768 text screen, full size and
                                     as the list's thumbnails (?width=160); medians
  BENCH_QUICK=1 python3 bench/screenshot.py   5 of each
  env: BENCH_SHOTS=30, BENCH_SCREEN=1024x768, BENCH_THUMB=160

No KVM: petreld without the jailer, a worker it adopts, and petrel's VNC server over a display
in memory (build/tests/tools/vnc_display, src/ui/vnc.c as the worker runs it) where petreld
looks for that worker's VNC socket, its screen filled with lines of text (8x16 cells, as
bench/display.py's guest draws). Each screenshot is taken alone, one after the other, over
petreld's Unix socket. Reported: the wall time of a request (to the PNG's last byte), the CPU
time petreld and the VNC server spent on it (utime + stime from /proc, divided by the count),
the PNG's size.
"""
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
for d in ("bench", "tests", "tests/manager", "tests/vnc", "tests/web"):
    sys.path.insert(0, str(ROOT / d))
import benchlib  # noqa: E402
import mgrlib  # noqa: E402
import rfblib  # noqa: E402
import weblib  # noqa: E402

TOOL = mgrlib.BUILD / "tests" / "tools" / "vnc_display"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    st = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / CLK_TCK


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


THUMB = int(os.environ.get("BENCH_THUMB", "160"))


def shoot(p, scr, w, h, shots, label, query):
    walls, sizes = [], []
    for i in range(shots + 1):
        c0 = (cpu(p.proc.pid), cpu(scr.p.pid))
        t0 = time.monotonic()
        st, head, body = weblib.raw(p.sock, "GET", "/vms/scr/screenshot" + query)
        t1 = time.monotonic()
        c1 = (cpu(p.proc.pid), cpu(scr.p.pid))
        if st != 200:
            sys.exit(f"screenshot: {st} {head}")
        if i == 0:   # the first connects a viewer for the first time: left out
            pw, ph, _ = rfblib.png_decode(body)
            assert pw == (THUMB if query else w), (pw, ph)
            cpu_start = c1
            continue
        walls.append(t1 - t0)
        sizes.append(len(body))
    n = len(walls)
    print(f"Screenshot of a {w}x{h} text screen through petreld, {label} ({n} shots, one at a time):")
    print(f"  wall per shot: median {median(walls) * 1e3:.1f} ms (min {min(walls) * 1e3:.1f}, "
          f"max {max(walls) * 1e3:.1f})")
    print(f"  CPU per shot: petreld {(c1[0] - cpu_start[0]) / n * 1e3:.1f} ms, "
          f"VNC server {(c1[1] - cpu_start[1]) / n * 1e3:.1f} ms")
    print(f"  PNG: {median(sizes) / 1024:.1f} KiB", flush=True)


def main():
    if not TOOL.exists():
        sys.exit(f"screenshot: {TOOL} is not built")
    w, h = (int(x) for x in os.environ.get("BENCH_SCREEN", "1024x768").split("x"))
    shots = int(os.environ.get("BENCH_SHOTS", benchlib.pick("30", "5")))
    p = mgrlib.Petreld(jailer=False).start()
    procs, scr = [], None
    try:
        assert p.define("scr")[0] == 201
        procs = mgrlib.leave_workers(p, ["scr"])
        p.stop()
        p.start()   # adopts the worker: a running VM without KVM
        scr = rfblib.VncDisplay(TOOL, p.state / "sock" / "scr.vnc", w, h)
        scr.cmd("text")
        for label, query in (("full size", ""), (f"thumbnail {THUMB} wide", f"?width={THUMB}")):
            shoot(p, scr, w, h, shots, label, query)
    finally:
        if scr:
            scr.stop()
        for pr in procs:
            pr.kill()
        p.close()


if __name__ == "__main__":
    main()
