#!/usr/bin/env python3
"""petrel benchmarks: prints figures and ratios, asserts nothing.

  python3 bench/run.py [startup] [exits] [linux] [linux-entry] [blk] [blkhost] [net] [decompress]   (default: startup exits)
  python3 bench/run.py all        (startup exits linux blk net decompress: every figure of issue 15)

Peers in the same run: the bare KVM_RUN loop (exits), QEMU's microvm (Debian's
qemu-system-x86: startup, exits, linux) and kvmtool (startup, with BENCH_KVMTOOL); blk's
limit is the host's own io_uring on the same file. The ring-3 blk and net benchmark guests run
under QEMU's pc machine too (PVH via -kernel, SeaBIOS assigning the BARs): QEMU's virtio-blk
(iothread) and virtio-net (tap) are their peer rows, left out without QEMU or /dev/kvm.

startup  VMM start -> first guest instruction: a test guest whose first act is to write the
         debug-exit port; wall time and CPU time of the whole petrel process, peak RSS, and
         guest memory resident (so RSS minus guest memory = petrel's own footprint). Peers in
         the same run, runs interleaved, when present: QEMU's microvm (qemu-system-x86_64,
         the same PVH kernel, isa-debug-exit) and kvmtool (BENCH_KVMTOOL=path/to/lkvm; not in
         Debian 12: build it from its source; a flat binary whose first act is the i8042 reset
         that ends a kvmtool VM). BENCH_STARTUP_RUNS: runs of each (default 31: peak RSS
         varies by +-100 KiB from run to run with where ASLR puts each mapping against the
         kernel's 64 KiB fault-around windows). Each VMM's binary is dropped from the page
         cache first, so that every one is read the same way (by exec's readahead).
exits    port-I/O exit round trip: the `exitloop` test guest does N `out`s to the null port
         0xf5 from ring 3 (and from ring 0); ns per exit from the difference of two runs,
         next to bench/bare_exit_loop (raw KVM_RUN loop, ring 3) and the same guest under
         QEMU's microvm (an unassigned port there) measured in the same run.
linux    boot the default Debian guest to init and power off; seconds, with --stats table.
         BENCH_LINUX=bzimage,vmlinux,qemu-vmlinux,vmlinux+busy (default; also bzimage-linux64,
         bzimage-guest): the bzImage (payload decompressed on the host), the same kernel's
         vmlinux through PVH, the same vmlinux under QEMU's microvm (the peer), the bzImage
         through startup_64 or its own decompressor; prints bzImage / vmlinux and petrel / QEMU.
         NAME+busy (e.g. vmlinux+busy) boots NAME beside one CPU-bound neighbour process and
         prints the slowdown against NAME's quiet boot in the same run (issue 15's busy host).
linux-entry  petrel's start -> the kernel's first lines (earlyprintk), stopped there: where the
         bzImage and vmlinux paths differ (host decompression, the entry), seconds each, in
         interleaved rounds (BENCH_ENTRY_ROUNDS, 5). BENCH_ENTRY=bzimage,vmlinux,bzimage-linux64
         (default; bzimage-guest adds the kernel's own decompressor for comparison, qemu-vmlinux
         the same vmlinux under QEMU's microvm).
decompress  host-side decompression of the real kernel's payload per format
         (bench/decompress.py, no VM needed).
blk      virtio-blk: 4 KiB random-read and -write IOPS (queue depth 32) and 1 MiB sequential
         read/write MB/s (queue depth 8) from the ring-3 `virtio_blkbench` guest over virtio-pci, next
         to the same pattern run directly on the image file with io_uring
         (bench/virtio_blk_host) in the same run; the ratio is guest / host. The image is a
         256 MiB file of random data in the page cache (buffered I/O on both sides). Random
         reads run twice: plain (the I/O thread's adaptive busy-poll, on 2+ CPUs), and with
         --disk ...,poll=20 (a fixed 20 us window). Peer row: the same guest under QEMU's
         virtio-blk-pci with an iothread and aio=io_uring, same image, same run.
         BENCH_BLK_RAND_OPS / BENCH_BLK_RANDWRITE_OPS / BENCH_BLK_SEQ_OPS: counts (random
         reads 1 M a run, random writes 200 000); BENCH_BLK_MB: the image's size;
         BENCH_QEMU=0: no QEMU row; BENCH_BLK_CASES: some of randread,randread-poll20,
         seqread,seqwrite,randwrite (default all). BENCH_BLK_ROUNDS (default 3, quick 1): rounds of
         petrel, the host and QEMU in turn (the order reversed every other round), the figures
         the medians and the host's and petrel's spread printed (the host's own rate varies).
         Each row prints the round trip of a cache line between the host's first two CPUs
         (bench/cpu_roundtrip, measured around every run; bench/host_cpus.py): a round waits
         until it is within 3x the best seen on this host (BENCH_CPU_SETTLE_S, default 300 s),
         and one in which it rose past that (a cloud host's CPUs moved apart) is run again, at
         most twice, the discarded round printed.
         BENCH_BLK_PETREL_ARGS: more arguments for petrel run (e.g. --huge-pages Transparent).
blkhost  virtio-blk's device path without KVM (bench/blk_host.py): blk.c driven through its
         queue on a real I/O thread against the host's io_uring loop on the same file, and fio.
net      virtio-net through a tap (needs root): the ring-3 `virtio_netbench` guest sends
         frames of 60, 1514, 9014 and 65535 bytes as fast as petrel takes them (guest->host;
         the tap's rx counter confirms they arrived), then receives a burst bench/net_host
         put into the tap with a packet socket (host->guest): the guest posts no buffers until
         the burst sits in the tap's queue (txqueuelen 100000), so the figure is how fast
         petrel and the guest drain it, not how fast a sender can produce it or who wins this
         host's CPUs; frames the tap had to drop are reported. Frames/s and Gbit/s of Ethernet
         frames, first to last frame as the guest's TSC sees them; the tap's MTU is 65521.
         BENCH_NET_SIZES, BENCH_NET_MODES (tx,rx), BENCH_NET_REPEAT, BENCH_NET_FRAMES;
         BENCH_NET_PETREL_ARGS: more arguments for petrel run (e.g. --huge-pages Transparent).
         The guest runs with sync=1, so exits per frame (KVM's debugfs) and the VMM's CPU per
         frame cover only its first to last frame (bench/e1000.py's run_synced), for petrel
         and QEMU alike; at the end petrel/QEMU per cell. BENCH_NET_SIZES (default
         60,1514,9014,65535), BENCH_NET_MODES (tx,rx), BENCH_NET_FRAMES, BENCH_NET_REPEAT (runs
         per cell, petrel and QEMU alternating first; medians), BENCH_QEMU=0: no QEMU rows.
         Peer rows: the same guest under QEMU's virtio-net-pci on the same tap (vhost=off).
"""
import os
import pathlib
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import failed, pick, runs as benchlib_runs  # noqa: E402
from host_cpus import HostCpus  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
PETREL = BUILD / "petrel"
GUESTS = BUILD / "tests" / "guests"


def run_rusage(cmd, timeout=600, env=None):
    """Run cmd through bench/spawn_rusage: (wall s, cpu s, peak RSS KiB, stdout, stderr, rc) of
    that process alone (a process Python spawns carries Python's own peak RSS, about 10 MiB,
    into RUSAGE_CHILDREN)."""
    launcher = BUILD / "bench" / "spawn_rusage"
    with tempfile.NamedTemporaryFile("r", prefix="petrel-rusage-") as fig:
        p = subprocess.run([str(launcher), "-o", fig.name, *cmd], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        wall_us, cpu_us, maxrss, status = (int(x) for x in fig.read().split())
    return wall_us / 1e6, cpu_us / 1e6, maxrss, p.stdout, p.stderr, os.waitstatus_to_exitcode(status)


def run_petrel(args, timeout=600):
    """Run `petrel run args`; return (wall s, cpu s, maxrss KiB, stdout, stderr, rc); maxrss
    includes Python's own peak (run_rusage has the process's own)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([str(PETREL), "run", *args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss, p.stdout, p.stderr, p.returncode


def median(xs):
    """The true median: the middle two's mean for an even count (was the upper one of them)."""
    return statistics.median(xs)


def first_insn_guest():
    """A minimal PVH kernel whose very first instruction ends the VM (out 0xf4): timing a run
    of it measures VMM start -> first guest instruction (plus the exit and teardown)."""
    import struct
    path = BUILD / "bench" / "first-insn.elf"
    code = bytes([0xb0, 0x00, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd])  # mov al,0; out 0xf4,al; hlt; jmp
    note = struct.pack("<III4sI", 4, 4, 18, b"Xen\0", 0x100000)
    ehdr_size, phdr_size = 64, 56
    code_off = ehdr_size + 2 * phdr_size
    note_off = code_off + len(code)
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 2, 62, 1,
                       0x100000, ehdr_size, 0, 0, ehdr_size, phdr_size, 2, 0, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, code_off, 0x100000, 0x100000, len(code), len(code), 4096)
    pnote = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
    path.write_bytes(ehdr + load + pnote + code + note)
    return path


def first_insn_flat():
    """The same for kvmtool, which loads a flat binary at 1000:0000 in real mode and ends its
    VM on the i8042 reset command: mov al,0xfe; out 0x64,al; hlt; jmp."""
    path = BUILD / "bench" / "first-insn.bin"
    path.write_bytes(bytes([0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0xeb, 0xfd]))
    return path


def startup_peers(elf):
    """(name, command, exit status that means the guest ended the VM, environment) of each
    peer present."""
    peers = []
    qemu = qemu_microvm(elf, "")
    if qemu:  # out 0xf4 with 0 through isa-debug-exit: QEMU exits with (0 << 1) | 1
        peers.append(("QEMU microvm", qemu, 1, None))
    lkvm = os.environ.get("BENCH_KVMTOOL")
    if lkvm:
        # kvmtool binds its control socket in $HOME/.lkvm: a directory of its own (the
        # home may be on a file system without Unix sockets, as under scripts/nested-kvm.sh)
        home = tempfile.mkdtemp(prefix="bench-lkvm-")
        peers.append(("kvmtool", [lkvm, "run", "--nodefaults", "-k", str(first_insn_flat()), "-m", "128",
                                  "-c", "1", "--console", "serial"], 0, {**os.environ, "HOME": home, "LKVM_NO_VIRT_CHECK": "1"}))
    return peers


def drop_cached(path):
    """Drop a program's file from the page cache (written back first), so that the next exec
    reads it the way an installed program's first run does. The pages a file sits in decide
    what the kernel's fault-around maps (how the file was written: a linker's output, a copy
    or a readahead's), and so its peak RSS: the same binary measured 100 KiB apart."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def bench_startup(n=benchlib_runs("BENCH_STARTUP_RUNS", 31)):
    guest = first_insn_guest()
    # Timed as the peers run: no --stats (its exit table and the guest memory's mincore cost
    # ~0.15 ms and ~48 KiB that kvmtool and QEMU do not pay); the guest memory resident comes
    # from a --stats run of its own each round, untimed.
    petrel = [str(PETREL), "run", "--kernel", str(guest), "--debug-exit", "--mem", "128"]
    rows = [("petrel run", petrel, 0, None)] + startup_peers(guest)
    figs = {name: ([], [], [], []) for name, *_ in rows}
    for _, cmd, *_ in rows:
        drop_cached(shutil.which(cmd[0]) or cmd[0])
    for _ in range(n):
        for name, cmd, ok, env in rows:  # interleaved: every VMM sees the same load
            wall, cpu, maxrss, out, err, rc = run_rusage(cmd, env=env)
            if rc != ok:
                raise RuntimeError(f"{name}: the first-insn guest failed ({rc}): {(out + err)[-400:]}")
            if name == "petrel run":
                err = run_rusage(petrel[:2] + ["--stats"] + petrel[2:])[4]
            m = re.search(r"guest memory resident: (\d+) KiB", err)
            for fig, v in zip(figs[name], (wall * 1e3, cpu * 1e3, maxrss, int(m.group(1)) if m else 0)):
                fig.append(v)
    print(f"startup: VMM start -> first guest instruction -> exit, 128 MiB, 1 vCPU, {n} interleaved runs, medians:")
    base_cpu, base_rss = median(figs["petrel run"][1]), median(figs["petrel run"][2])
    for name, *_ in rows:
        walls, cpus, rss, _ = figs[name]
        ratio = "" if name == "petrel run" else \
            f"   petrel / it: CPU {base_cpu / median(cpus):.2f}, RSS {base_rss / median(rss):.2f}"
        print(f"  {name:13s} wall {median(walls):7.1f} ms  cpu {median(cpus):7.1f} ms  peak RSS {median(rss):7.0f} KiB{ratio}")
    resident = median(figs["petrel run"][3])
    print(f"  petrel: guest memory resident {resident:.0f} KiB (kernel, ACPI, page tables petrel wrote); "
          f"RSS minus guest memory {base_rss - resident:.0f} KiB")
    if len(rows) == 1:
        print("  (no peer: install qemu-system-x86 and/or set BENCH_KVMTOOL to measure them in the same run)")


def exitloop(iters, ring):
    wall, cpu, _, out, err, rc = run_petrel(
        ["--kernel", str(GUESTS / "exitloop.elf"), "--cmdline", f"iters={iters} ring={ring}",
         "--debug-exit"], timeout=1200)
    if rc != 0:
        raise RuntimeError(f"exitloop failed ({rc}): {err[-500:]}")
    return wall


def qemu_microvm(kernel, append, mem=128, extra=()):
    """QEMU's microvm running a PVH kernel with its console on stdout and isa-debug-exit at
    0xf4, or None without qemu-system-x86_64."""
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return None
    # A PVM host refuses the IA32_ARCH_CAPABILITIES MSR QEMU sets for "-cpu host" (QEMU 7.2
    # aborts: "failed to set MSR 0x10a"); without it QEMU runs there.
    cpu = "host,-arch-capabilities" if os.path.exists("/sys/module/kvm_pvm") else "host"
    return [qemu, "-M", "microvm,x-option-roms=off,rtc=off", "-accel", "kvm", "-cpu", cpu,
            "-m", str(mem), "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
            "-serial", "stdio", "-kernel", str(kernel), "-append", append,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=1", *extra]


def qemu_pc(kernel, append, mem, extra=()):
    """A PVH test guest under QEMU's pc machine with KVM (SeaBIOS assigns the PCI BARs the
    virtio guests read; console on stdout, isa-debug-exit at 0xf4), or None without
    qemu-system-x86_64 or /dev/kvm (the row is then left out, not failed)."""
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return None
    cpu = "host,-arch-capabilities" if os.path.exists("/sys/module/kvm_pvm") else "host"  # as qemu_microvm
    return [qemu, "-M", "pc", "-accel", "kvm", "-cpu", cpu, "-m", str(mem), "-smp", "1", "-nodefaults",
            "-no-user-config", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
            "-kernel", str(kernel), "-append", append, "-device", "isa-debug-exit,iobase=0xf4,iosize=4", *extra]


def exitloop_qemu(iters, ring):
    """The same guest under QEMU (an unassigned port: QEMU's own exit path), wall seconds."""
    cmd = qemu_microvm(GUESTS / "exitloop.elf", f"iters={iters} ring={ring}")
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)
    wall = time.monotonic() - t0
    if p.returncode != 1 or "ok exitloop" not in p.stdout:  # debug-exit 0: (0 << 1) | 1
        raise RuntimeError(f"exitloop under QEMU failed ({p.returncode}): {(p.stdout + p.stderr)[-500:]}")
    return wall


def bench_exits(iters=pick(int(os.environ.get("BENCH_EXIT_ITERS", "200000")), 2000)):
    bare = subprocess.run([str(BUILD / "bench" / "bare_exit_loop"), str(iters)],
                          capture_output=True, text=True, timeout=1200)
    m = re.search(r"([\d.]+) ns per exit", bare.stdout)
    bare_ns = float(m.group(1)) if m else float("nan")
    print(f"port-I/O exit round trip ({iters} exits; ns per exit from a run of {iters} minus a run of 0):")
    print(f"  bare KVM_RUN loop (ring 3)        {bare_ns:10.0f} ns/exit")
    runners = [("petrel", exitloop)] + ([("QEMU microvm", exitloop_qemu)] if shutil.which("qemu-system-x86_64") else [])
    for ring in (3, 0):
        for name, run in runners:
            try:
                ns = (run(iters, ring) - run(0, ring)) / iters * 1e9
            except RuntimeError as e:
                failed(f"  {name} exitloop guest (ring {ring}): {e}")
                continue
            print(f"  {name + ' exitloop guest':28s} (ring {ring}) {ns:10.0f} ns/exit   ratio to bare {ns / bare_ns:5.2f}")


LINUX_VARIANTS = {  # name -> (kernel, extra petrel options); issue 15: bzimage within 5% of vmlinux
    "bzimage": (ROOT / "guest" / "vmlinuz", []),  # payload decompressed on the host, then PVH
    "vmlinux": (ROOT / "guest" / "vmlinux", []),  # the same kernel's ELF through PVH
    "bzimage-linux64": (ROOT / "guest" / "vmlinuz", ["--kernel-decompress", "host-linux64"]),
    "bzimage-guest": (ROOT / "guest" / "vmlinuz", ["--kernel-decompress", "guest"]),  # classic
}


def linux_cmdline():
    """The command line scripts/boot.sh gives the guest (petrel adds its PVM flags itself)."""
    text = (ROOT / "scripts" / "boot.sh").read_text()
    block = text[text.index("CMDLINE=(") + len("CMDLINE=("):text.index("\n)", text.index("CMDLINE=("))]
    return " ".join(line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip())


def bench_linux():
    names = os.environ.get("BENCH_LINUX", "bzimage,vmlinux,qemu-vmlinux,vmlinux+busy").split(",")
    times = {n: bench_linux_one(n) for n in names}
    for n in names:
        if n.endswith("+busy") and times.get(n) and times.get(n[:-5]):
            print(f"{n[:-5]} with a CPU-bound neighbour / quiet, time to init: {times[n] / times[n[:-5]]:.2f}")
    if times.get("bzimage") and times.get("vmlinux"):
        print(f"bzImage / vmlinux time to init: {times['bzimage'] / times['vmlinux']:.3f} "
              "(issue 15's goal: within 1.05)")
    if times.get("vmlinux") and times.get("qemu-vmlinux"):
        print(f"petrel / QEMU microvm time to init, same vmlinux: {times['vmlinux'] / times['qemu-vmlinux']:.3f}")


def bench_linux_one(name):
    """One boot; NAME+busy boots NAME beside a CPU-bound neighbour (one process spinning at
    normal priority for the whole boot, as a build or a fuzzer beside it would)."""
    if name.endswith("+busy"):
        spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            return _linux_boot(name[:-5], name)
        finally:
            spin.kill()
            spin.wait()
    return _linux_boot(name, name)


def _linux_boot(name, label):
    cpus, mem = os.environ.get("PETREL_CPUS", "2"), os.environ.get("PETREL_MEM", "512")
    if name == "qemu-vmlinux":
        # QEMU's microvm with the same kernel, initramfs and command line (and neither petrel's
        # PVM flags nor its emulation of what PVM's emulator lacks: on a PVM host this shows
        # whether a stock VMM boots the guest at all)
        cmd = qemu_microvm(ROOT / "guest" / "vmlinux", linux_cmdline() + " petrel.test=1", mem,
                           ["-smp", cpus, "-initrd", str(ROOT / "guest" / "initramfs.cpio")])
        if not cmd:
            print("Linux boot under QEMU: no qemu-system-x86_64")
            return None
        env = None
    else:
        kernel, extra = LINUX_VARIANTS[name]
        cmd = [str(ROOT / "scripts" / "boot.sh"), "--stats", *extra]
        env = dict(os.environ, PETREL_CMDLINE_EXTRA="petrel.test=1", PETREL_KERNEL=str(kernel))
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    init_at = None
    out_lines = []
    for line in p.stdout:
        out_lines.append(line)
        if init_at is None and "PETREL-INIT" in line:
            init_at = time.monotonic() - t0
        if "PETREL-READ>" in line:
            p.stdin.write("bench\n")
            p.stdin.flush()
    err = p.stderr.read()
    p.wait()
    total = time.monotonic() - t0
    print(f"Linux boot, {label} (Debian cloud kernel + busybox initramfs, {cpus} vCPUs, {mem} MiB):")
    print(f"  to init        {init_at if init_at else float('nan'):8.1f} s")
    print(f"  to power-off   {total:8.1f} s   (exit status {p.returncode})")
    if init_at is None:
        print("  no init: the console's last lines:\n    " + "    ".join(out_lines[-8:]))
    print("\n".join(l for l in err.splitlines() if l.startswith(("petrel", "  "))))
    return init_at


ENTRY_MILESTONES = [("first line", "Linux version"), ("memory map", "Zone ranges:"), ("mm up", "Memory: ")]


def bench_linux_entry(rounds=int(os.environ.get("BENCH_ENTRY_ROUNDS", "5"))):
    """Issue 15's bzImage goal where the paths differ: petrel's start to the kernel's first
    lines. What petrel does before the kernel's first instruction (decompressing the payload
    on the host or not, the entry it takes) is all in these figures; after it every variant
    runs the same decompressed kernel, so its time to init can differ only by this. The
    kernel prints from early in setup_arch with earlyprintk; each boot is stopped at the last
    milestone. Interleaved rounds, medians; bzimage-guest (the kernel's own decompressor)
    only with BENCH_ENTRY naming it (about a minute of emulated ring 0 per boot here)."""
    names = os.environ.get("BENCH_ENTRY", "bzimage,vmlinux,bzimage-linux64").split(",")
    got = {n: {m: [] for m, _ in ENTRY_MILESTONES} for n in names}
    for _ in range(rounds):
        for n in names:
            for m, t in _linux_entry_one(n).items():
                got[n][m].append(t)
    print(f"Linux entry: petrel start -> the kernel's early lines (earlyprintk), {rounds} interleaved rounds, medians (s):")
    print("  " + f"{'':16s}" + "".join(f"{m:>14s}" for m, _ in ENTRY_MILESTONES))
    for n in names:
        print("  " + f"{n:16s}" + "".join(f"{median(got[n][m]) if got[n][m] else float('nan'):14.2f}"
                                          for m, _ in ENTRY_MILESTONES))
    last = ENTRY_MILESTONES[-1][0]
    for n in names:
        print(f"  {n} at '{last}', each round: " + " ".join(f"{t:.1f}" for t in got[n][last]))
    if "bzimage" in got and "vmlinux" in got:
        if got["bzimage"][last] and got["vmlinux"][last]:
            b, v = median(got["bzimage"][last]), median(got["vmlinux"][last])
            print(f"  bzImage - vmlinux at '{last}': {b - v:+.2f} s")


def _linux_entry_one(name):
    if name == "qemu-vmlinux":  # the peer: same vmlinux, initramfs and command line
        cmd = qemu_microvm(ROOT / "guest" / "vmlinux", linux_cmdline() + " earlyprintk=serial,ttyS0",
                           os.environ.get("PETREL_MEM", "512"),
                           ["-smp", os.environ.get("PETREL_CPUS", "2"), "-initrd", str(ROOT / "guest" / "initramfs.cpio")])
        if not cmd:
            return {}
        env = None
    else:
        kernel, extra = LINUX_VARIANTS[name]
        cmd = [str(ROOT / "scripts" / "boot.sh"), *extra]
        env = dict(os.environ, PETREL_CMDLINE_EXTRA="earlyprintk=serial,ttyS0", PETREL_KERNEL=str(kernel))
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    seen = {}
    try:
        for line in p.stdout:
            for m, text in ENTRY_MILESTONES:
                if m not in seen and text in line:
                    seen[m] = time.monotonic() - t0
            if len(seen) == len(ENTRY_MILESTONES) or time.monotonic() - t0 > 900:
                break
    finally:
        p.kill()
        p.wait()
    return seen


def bench_decompress():
    sys.path.insert(0, str(ROOT / "bench"))
    import decompress  # bench/decompress.py
    decompress.main(5)


def bench_blk():
    img = BUILD / "bench-virtio-blk.img"
    size = pick(int(os.environ.get("BENCH_BLK_MB", "256")), 16) << 20
    if not img.exists() or img.stat().st_size != size:
        with open(img, "wb") as f:
            for _ in range(size >> 20):
                f.write(os.urandom(1 << 20))
    with open(img, "rb") as f:  # warm the page cache for both sides
        while f.read(8 << 20):
            pass
    host_bin = BUILD / "bench" / "virtio_blk_host"
    # 1 M random reads a run (~1 s): at 200 000 (0.2 s) a run's rate moved by up to a quarter from
    # round to round on a 2-CPU PVM host (2026-11-29); random writes stay at 200 000, which
    # QEMU takes ~25 s to do
    rand_ops = pick(int(os.environ.get("BENCH_BLK_RAND_OPS", "1000000")), 256)
    randwrite_ops = pick(int(os.environ.get("BENCH_BLK_RANDWRITE_OPS", "200000")), 256)
    # 8 GiB a run: at 2 GiB (0.2 s) one run's rate moved with what else the host did then
    seq_ops = pick(int(os.environ.get("BENCH_BLK_SEQ_OPS", "8192")), 16)
    cases = [("randread", 4096, 32, rand_ops, ""), ("randread", 4096, 32, rand_ops, ",poll=20"),
             ("seqread", 1 << 20, 8, seq_ops, ""), ("seqwrite", 1 << 20, 8, seq_ops, ""),
             ("randwrite", 4096, 32, randwrite_ops, "")]
    names = ["randread", "randread-poll20", "seqread", "seqwrite", "randwrite"]
    pick_cases = os.environ.get("BENCH_BLK_CASES", ",".join(names)).split(",")
    cases = [c for c, n in zip(cases, names) if n in pick_cases]
    labels = {"randread": "4 KiB random read, qd 32", "seqread": "1 MiB sequential read, qd 8",
              "seqwrite": "1 MiB sequential write, qd 8", "randwrite": "4 KiB random write, qd 32"}
    print(f"virtio-blk (virtio-pci, io_uring backend, {size >> 20} MiB image in the page cache); "
          "peer: QEMU's virtio-blk-pci (iothread, aio=io_uring), the same guest as a PVH kernel:")
    # The host's own rate moves from run to run (0.69-1.04 M IOPS on one PVM host, 2026-11-27):
    # each case runs BENCH_BLK_ROUNDS rounds of petrel, the host and QEMU one after the other,
    # the order turned each round, and the ratios are of the medians.
    rounds = pick(int(os.environ.get("BENCH_BLK_ROUNDS", "3")), 1)
    cpus = HostCpus(BUILD)
    for mode, bs, qd, ops, opts in cases:
        guest = GUESTS / "virtio_blkbench.elf"
        cmdline = f"mode={mode} bs={bs} qd={qd} ops={ops}"

        def petrel_run():
            wall, cpu, _, out, err, rc = run_petrel(
                ["--kernel", str(guest), "--debug-exit", "--mem", "512", "--cmdline", cmdline, "--disk", f"{img}{opts}",
                 *os.environ.get("BENCH_BLK_PETREL_ARGS", "").split()],
                timeout=1200)
            m = re.search(r"blkbench .* tsc=(\d+) tsc_hz=(\d+) notifies=(\d+)", out)
            if rc != 0 or not m:
                failed(f"  {mode}: guest failed ({rc}): {(out + err)[-400:]}")
                return None
            g = re.search(r"blkbench-guest refill=(\d+) stalls=(\d+) stall=(\d+)", out)
            if g:  # where the guest's time went: refilling the queue, kept from running
                where["refill"].append(int(g.group(1)) / int(m.group(1)))
                where["stall"].append(int(g.group(3)) / int(m.group(1)))
            return int(m.group(1)) / int(m.group(2)), int(m.group(3))

        def host_run():
            h = subprocess.run([str(host_bin), str(img), mode, str(bs), str(qd), str(ops)],
                               capture_output=True, text=True, timeout=600)
            hm = re.search(r"ns=(\d+)", h.stdout)
            return (int(hm.group(1)) / 1e9, 0) if hm else None

        # QEMU's row beside the default one (its iothread polls adaptively as petrel now does)
        qemu = None if opts or os.environ.get("BENCH_QEMU") == "0" else qemu_pc(guest, cmdline, 512, [
            "-object", "iothread,id=io0",
            "-drive", f"file={img},if=none,id=d0,format=raw,cache=writeback,aio=io_uring",
            "-device", "virtio-blk-pci,drive=d0,iothread=io0,disable-legacy=on,num-queues=1"])

        def qemu_run():
            q = subprocess.run(qemu, capture_output=True, text=True, timeout=1200)
            qm = re.search(r"blkbench .* tsc=(\d+) tsc_hz=(\d+) notifies=(\d+)", q.stdout)
            if not qm:
                failed(f"  {mode}: the guest under QEMU failed ({q.returncode}): {(q.stdout + q.stderr)[-400:]}")
                return None
            return int(qm.group(1)) / int(qm.group(2)), int(qm.group(3))

        where = {"refill": [], "stall": []}
        case_trips = []
        scale = (lambda t, ops=ops: ops / t) if bs == 4096 else (lambda t, ops=ops, bs=bs: ops * bs / t / 1e6)
        unit = "IOPS" if bs == 4096 else "MB/s"
        runners = [("petrel", petrel_run), ("host", host_run)] + ([("QEMU", qemu_run)] if qemu else [])
        times = {name: [] for name, _ in runners}
        notes = {name: [] for name, _ in runners}
        for r in range(rounds):
            # Each round starts with the host's CPUs close together; one during which they moved
            # apart is run again, at most twice, and printed: it measured the host (host_cpus.py).
            for again in range(3):
                trips = [cpus.settle()]
                kept = {k: len(w) for k, w in where.items()}
                got = {}
                for name, fn in (runners if r % 2 == 0 else runners[::-1]):
                    got[name] = fn()
                    trips.append(cpus.measure())
                trips = [t for t in trips if t]
                case_trips += trips
                if not any(map(cpus.far, trips)) or again == 2:
                    break
                for k, w in where.items():  # a discarded round's guest figures go with it
                    del w[kept[k]:]
                print(f"  (round {r + 1} of {mode}{opts} again: the host's CPUs were up to {max(trips):.0f} ns "
                      f"apart in it, {cpus.best:.0f} ns at best; it gave "
                      + ", ".join(f"{n} {scale(g[0]):.0f} {unit}" for n, g in got.items() if g) + ")", flush=True)
            for name, g in got.items():
                if g:
                    times[name].append(g[0])
                    notes[name].append(g[1])
        if not times["petrel"] or not times["host"]:
            continue
        g, hst = scale(median(times["petrel"])), scale(median(times["host"]))
        spread = "" if rounds == 1 else \
            f"   (host {min(map(scale, times['host'])):.0f}-{max(map(scale, times['host'])):.0f}, " \
            f"petrel {min(map(scale, times['petrel'])):.0f}-{max(map(scale, times['petrel'])):.0f} over {rounds} rounds)"
        label = f"{labels[mode]}{', ' + opts[1:] if opts else ''}:"
        qs = ""
        if times.get("QEMU"):
            qv = scale(median(times["QEMU"]))
            qs = f"   QEMU {qv:9.0f} {unit} ratio {qv / hst:5.2f}   petrel/QEMU {g / qv:5.2f}"
        qn = f", QEMU {int(median(notes['QEMU']))}" if notes.get("QEMU") else ""
        trip = f"   (CPU round trip {min(case_trips):.0f}-{max(case_trips):.0f} ns)" if case_trips else ""
        print(f"  {label:40} guest {g:9.0f} {unit}   host {hst:9.0f} {unit}   ratio {g / hst:5.2f}{qs}"
              f"   (notifications for {ops} requests: petrel {int(median(notes['petrel']))}{qn}){spread}{trip}",
              flush=True)
        if where["refill"]:
            print(f"  {'':40} petrel's guest: {100 * median(where['refill']):.1f}% of its time refilling the queue, "
                  f"{100 * median(where['stall']):.1f}% kept from running (gaps over 10 us)", flush=True)
    if not os.access("/dev/kvm", os.R_OK | os.W_OK) or not shutil.which("qemu-system-x86_64"):
        print("  (no QEMU row: needs qemu-system-x86_64 and /dev/kvm)")


def bench_blkhost():
    sys.path.insert(0, str(ROOT / "bench"))
    import blk_host  # bench/blk_host.py
    blk_host.main(int(os.environ.get("BENCH_BLK_ROUNDS", "7")))


def bench_net():
    """virtio-net frames/s, petrel against QEMU's virtio-net-pci on the same tap, the same ring-3
    guest with sync=1: bench/e1000.py's run_synced reads each VMM's CPU time and KVM's exit
    counters when the guest says "ready" (before its first frame) and "done" (after its last), so
    the figures are net of boot (QEMU boots through SeaBIOS, petrel does not)."""
    if os.geteuid() != 0:
        print("net: needs root for the tap device; skipped")
        return
    sys.path.insert(0, str(ROOT / "bench"))
    import e1000 as e1k  # bench/e1000.py: the synced run and KVM's counters
    e1k.have_kvm_debugfs()
    tap = f"pbench{os.getpid() % 10000}"
    mac = e1k.MAC

    def ip(*args):
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def stat(key):
        return int(pathlib.Path(f"/sys/class/net/{tap}/statistics/{key}").read_text())

    ip("tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
    try:
        subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{tap}.disable_ipv6=1"], capture_output=True)
        ip("link", "set", tap, "mtu", "65521")
        qlen = e1k.tap_queue_len(tap)   # room for the host->guest burst
        ip("link", "set", tap, "up")
        guest = str(GUESTS / "virtio_netbench.elf")
        sizes = [int(x) for x in os.environ.get("BENCH_NET_SIZES", pick("60,1514,9014,65535", "60,1514")).split(",")]
        modes = os.environ.get("BENCH_NET_MODES", "tx,rx").split(",")
        repeat = benchlib_runs("BENCH_NET_REPEAT", 1)
        # The peer: QEMU's virtio-net-pci on the same tap, userspace back end (vhost=off: petrel's
        # is userspace too), the same guest as a PVH kernel under the pc machine.
        qemu_net = ["-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no,vhost=off",
                    "-device", f"virtio-net-pci,netdev=n0,mac={mac},disable-legacy=on,mrg_rxbuf=on"]
        vmms = [("petrel", lambda c: [str(PETREL), "run", "--stats", "--kernel", guest, "--debug-exit", "--mem", "256",
                                      "--cmdline", c, "--net", f"tap={tap},mac={mac}",
                                      *os.environ.get("BENCH_NET_PETREL_ARGS", "").split()])]
        if os.environ.get("BENCH_QEMU") != "0" and qemu_pc(guest, "", 256):
            vmms.append(("QEMU", lambda c: qemu_pc(guest, c, 256, qemu_net)))
        else:
            print("  (no QEMU rows: needs qemu-system-x86_64 and /dev/kvm)")
        print("virtio-net (virtio-pci, tap with vnet header, mergeable 4 KiB receive buffers, EVENT_IDX, a "
              "polling ring-3 driver); peer: QEMU's virtio-net-pci on the same tap (vhost=off). Guest->host: "
              "the guest sends as fast as the device takes frames; host->guest: bench/net_host fills the "
              "tap's queue while the guest waits, then the guest drains it. Per frame, between the guest's "
              "first and last: exits to the VMM / all exits (KVM's debugfs), the VMM process's CPU:")
        res = {}
        for mode in modes:
            for size in sizes:
                if mode == "tx":
                    n = int(os.environ.get("BENCH_NET_FRAMES", "200000")) if size < 9000 else 50000
                else:   # a burst the tap can hold (at most ~256 MiB of frames)
                    n = min(int(os.environ.get("BENCH_NET_FRAMES", "200000")), qlen, (256 << 20) // size)
                n = pick(n, 2000)
                for r in range(repeat):
                    for who, cmd in (vmms if r % 2 == 0 else vmms[::-1]):   # alternate who goes first
                        if who == "QEMU" and pick(False, size != sizes[0]):
                            continue   # quick: QEMU in one cell per direction (it boots through SeaBIOS)
                        before = stat("rx_packets" if mode == "tx" else "tx_dropped")
                        rc, out, err, window = e1k.run_synced(cmd(f"mode={mode} frames={n} size={size} sync=1"),
                                                              "netbench", mode, tap, size, n)
                        m = re.search(r"netbench mode=\w+ frames=(\d+) bytes=(\d+) tsc=(\d+) tsc_hz=(\d+) "
                                      r"notifies=(\d+)", out)
                        d = "guest->host" if mode == "tx" else "host->guest"
                        # (QEMU's isa-debug-exit makes a passing guest's 0 an exit status of 1)
                        if not m or not window or "ok virtio_netbench" not in out:
                            failed(f"  {who:6} {d} {size:5d} B: failed ({rc}): {(out + err)[-300:]}")
                            continue
                        frames, nbytes, tsc, hz, kicks = map(int, m.groups())
                        t = tsc / hz if tsc else float("nan")
                        vmm_x, all_x, cpu = window
                        f = max(frames, 1)
                        ex = "exits/frame ?" if vmm_x is None else \
                            f"exits/frame {vmm_x / f:5.2f} vmm " + ("?" if all_x is None else f"{all_x / f:5.2f}") + " all"
                        side = (f"tap received {stat('rx_packets') - before} of {frames}" if mode == "tx" else
                                f"{stat('tx_dropped') - before} dropped by the tap")
                        print(f"  {who:6} {d} {size:5d} B: {frames / t / 1e3:8.1f} kframes/s {nbytes * 8 / t / 1e9:6.2f} "
                              f"Gbit/s  {ex}  CPU/frame {cpu / f * 1e6:7.2f} us  ({frames} frames, {kicks} "
                              f"notifications, {side})", flush=True)
                        res.setdefault((mode, size, who), []).append((frames / t, cpu / f))
        for mode in modes:
            for size in sizes:
                p, q = res.get((mode, size, "petrel")), res.get((mode, size, "QEMU"))
                if p and q:
                    d = "guest->host" if mode == "tx" else "host->guest"
                    pf, qf = median([x[0] for x in p]), median([x[0] for x in q])
                    pc, qc = median([x[1] for x in p]), median([x[1] for x in q])
                    # CPU time comes in clock ticks (10 ms): a quick run's few frames may show none
                    cpu = (f"{pc / qc:5.2f}x the CPU per frame" if pc and qc else
                           "CPU per frame below the clock's resolution (more frames to compare it)")
                    print(f"  petrel/QEMU {d} {size:5d} B: {pf / qf:5.2f}x the frames/s, {cpu} "
                          f"(medians of {len(p)} and {len(q)} runs)")
    finally:
        subprocess.run(["ip", "link", "del", tap], capture_output=True)


def main():
    which = sys.argv[1:] or pick(["startup", "exits"], ["startup", "exits", "blk"])
    if which == ["all"]:
        which = ["startup", "exits", "linux", "blk", "net", "decompress"]
    if not PETREL.exists():
        sys.exit(f"{PETREL} not built (scripts/setup.sh)")
    for w in which:
        {"startup": bench_startup, "exits": bench_exits, "linux": bench_linux, "blk": bench_blk, "blkhost": bench_blkhost,
         "net": bench_net, "decompress": bench_decompress, "linux-entry": bench_linux_entry}[w]()
        print()


if __name__ == "__main__":
    main()
