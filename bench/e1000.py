#!/usr/bin/env python3
"""The cost of emulation: the same ring-3 workload over petrel's emulated E1000 and over
virtio-net (issue 40). Needs root (a tap) and /dev/kvm.

  python3 bench/e1000.py            full run (BENCH_E1000_FRAMES frames per case, default 100000)
  python3 bench/e1000.py --quick    a few thousand frames per case (the suite's quick mode)

Guest -> host: the guest sends frames of 60, 1514 and 9014 bytes as fast as the device takes
them (tests/guests/e1000_bench.c: one TDT write per frame, RS on every 32nd, an interrupt
handler that reads ICR; tests/guests/virtio_netbench.c: EVENT_IDX, polling). Host -> guest:
bench/net_host fills the tap with a burst while the guest waits, then the guest drains it
(E1000: RDT written every 16 buffers, as Linux's e1000; virtio: mergeable 4 KiB buffers).
E1000 runs twice: ITR 0 (an interrupt per cause) and ITR 1000 (256 us between interrupts,
about Linux's default of 4000 interrupts/s... at most 3906/s).

Reported per case: frames/s and MB/s (the guest's TSC, first to last frame), VM exits per frame
to petrel (petrel --stats: port I/O and MMIO exits, counted by petrel's exit statistics; the
exits KVM handles in the kernel, such as the LAPIC's EOI, are not in them; every exit of the
run, boot and the guest's TSC calibration included, divided by the frames: meaningful with
the full run's frame counts, not with --quick's), host CPU time of
petrel per frame, and the guest's interrupts. On a host whose KVM is nested (QEMU TCG) or PVM,
the absolute figures say little: compare the rows with each other. QEMU's e1000 as a peer in
the same run: the same e1000_bench guest on QEMU's e1000 (machine pc, KVM, the same tap),
guest->host only, frames/s and host CPU (BENCH_QEMU=0 leaves it out).
"""
import os
import pathlib
import re
import resource
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
GUESTS = BUILD / "tests" / "guests"
MAC = "02:62:65:6e:63:68"


def ip(*args, check=True):
    subprocess.run(["ip", *args], check=check, capture_output=True)


def exits_of(stderr):
    m = re.search(r"^\s+total\s+(\d+)", stderr, re.M)
    return int(m.group(1)) if m else None


def run(args, stdin_go=None, tap=None, size=0, n=0):
    """petrel run args --stats; for rx, fill the tap after the guest says it is ready."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen([str(PETREL), "run", "--stats", *args], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if stdin_go:
        line = ""
        while stdin_go not in line:
            line = p.stdout.readline()
            if not line:
                break
        subprocess.run([str(BUILD / "bench" / "net_host"), tap, MAC, str(size), str(n)],
                       capture_output=True, text=True, timeout=900)
        time.sleep(0.2)
        out, err = p.communicate("g\n", timeout=900)
    else:
        out, err = p.communicate(timeout=900)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.returncode, out, err, cpu


def qemu_case(tap, mode, size, n, extra):
    """The same e1000_bench guest on QEMU's e1000 (pc machine, KVM): frames/s only (QEMU has no
    exit statistics of its own here). Only guest->host: the host->guest burst needs the
    guest's console input, which this runner does not wire to QEMU."""
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu or mode != "tx":
        return
    t0 = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        p = subprocess.run([qemu, "-M", "pc", "-enable-kvm", "-cpu", "host", "-m", "512", "-nographic",
                            "-no-reboot", "-kernel", str(GUESTS / "e1000_bench.elf"),
                            "-append", f"mode={mode} frames={n} size={size} {extra}",
                            "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no,vhost=off",
                            "-device", f"e1000,netdev=n0,mac={MAC}",
                            "-device", "isa-debug-exit,iobase=0xf4,iosize=4"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
        out = p.stdout
    except subprocess.TimeoutExpired:
        print(f"  {'QEMU e1000':28s} guest->host {size:5d} B: timed out")
        return
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = re.search(r"e1000bench mode=\w+ frames=(\d+) bytes=(\d+) tsc=(\d+) tsc_hz=(\d+) irqs=(\d+)", out)
    if not m:
        print(f"  {'QEMU e1000':28s} guest->host {size:5d} B: failed after {time.monotonic() - t0:.0f} s: "
              f"{(out + p.stderr)[-300:]}")
        return
    frames, nbytes, tsc, hz, irqs = map(int, m.groups())
    t = tsc / hz if tsc else float("nan")
    print(f"  {'QEMU e1000 (' + extra.split()[-1] + ')':28s} guest->host {size:5d} B: "
          f"{frames / t / 1e3:8.1f} kframes/s {nbytes / t / 1e6:8.1f} MB/s  exits/frame       ?  "
          f"host CPU/frame {cpu / max(frames, 1) * 1e6:7.2f} us  irqs {irqs}  ({frames} frames)")


def case(label, tap, model, mode, size, n, extra=""):
    e1000 = model == "e1000"
    guest = str(GUESTS / ("e1000_bench.elf" if e1000 else "virtio_netbench.elf"))
    net = f"tap={tap},mac={MAC}" + (",model=e1000" if e1000 else "")
    args = ["--kernel", guest, "--debug-exit", "--mem", "512", "--net", net,
            "--cmdline", f"mode={mode} frames={n} size={size} {extra}"]
    rc, out, err, cpu = run(args, "ready" if mode == "rx" else None, tap, size, n)
    pat = r"(?:e1000bench|netbench) mode=\w+ frames=(\d+) bytes=(\d+) tsc=(\d+) tsc_hz=(\d+) (?:irqs|notifies)=(\d+)"
    m = re.search(pat, out)
    if rc != 0 or not m:
        print(f"  {label:28s} {mode} {size:5d} B: failed ({rc}): {(out + err)[-300:]}")
        return
    frames, nbytes, tsc, hz, irqs = map(int, m.groups())
    t = tsc / hz if tsc else float("nan")
    ex = exits_of(err)
    per = f"{ex / frames:7.2f}" if ex is not None and frames else "      ?"
    what = "irqs" if e1000 else "notifies"
    print(f"  {label:28s} {'guest->host' if mode == 'tx' else 'host->guest'} {size:5d} B: "
          f"{frames / t / 1e3:8.1f} kframes/s {nbytes / t / 1e6:8.1f} MB/s  exits/frame {per}  "
          f"host CPU/frame {cpu / max(frames, 1) * 1e6:7.2f} us  {what} {irqs}  ({frames} frames)")


def main():
    quick = "--quick" in sys.argv[1:]
    n_default = int(os.environ.get("BENCH_E1000_FRAMES", "3000" if quick else "100000"))
    if os.geteuid() != 0:
        print("e1000: needs root for the tap device; skipped")
        return
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("e1000: no /dev/kvm; skipped")
        return
    host = "nested" if os.path.exists("/sys/module/kvm_amd") and "hypervisor" in open("/proc/cpuinfo").read() else "host"
    print(f"E1000 vs virtio-net ({'quick' if quick else 'full'}; KVM: {host}; figures are relative "
          f"only unless on bare metal)")
    tap = f"pe1k{os.getpid() % 10000}"
    ip("tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
    try:
        subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{tap}.disable_ipv6=1"], capture_output=True)
        ip("link", "set", tap, "mtu", "16000")
        # room for the host->guest burst (busybox's ip has no txqueuelen: sysfs has it)
        for qlen in ("100000", "10000"):
            try:
                pathlib.Path(f"/sys/class/net/{tap}/tx_queue_len").write_text(qlen)
                break
            except OSError:
                pass
        ip("link", "set", tap, "up")
        sizes = [60, 1514] if quick else [60, 1514, 9014]
        for mode in ("tx", "rx"):
            for size in sizes:
                n = n_default if size < 9000 else max(n_default // 4, 1000)
                if mode == "rx":
                    n = min(n, (256 << 20) // size)
                case("virtio-net", tap, "virtio", mode, size, n)
                case("e1000 (ITR 0)", tap, "e1000", mode, size, n, "irq=1 itr=0")
                case("e1000 (ITR 1000: <=3906/s)", tap, "e1000", mode, size, n, "irq=1 itr=1000")
                if os.environ.get("BENCH_QEMU", "1") != "0":
                    qemu_case(tap, mode, size, n, "irq=1 itr=0")
    finally:
        subprocess.run(["ip", "link", "del", tap], capture_output=True)


if __name__ == "__main__":
    main()
