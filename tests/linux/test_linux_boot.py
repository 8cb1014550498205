"""One real boot of Debian's cloud kernel + petrel's busybox initramfs under build/petrel.

The guest's /init (scripts/guest-init) sees petrel.test=1 on the kernel command line, prints
PETREL-CHECK key=value lines, prompts PETREL-READ>, reads one console line, echoes it as
PETREL-ECHO:<line> and powers off. This test drives that over petrel's stdin/stdout and checks:
all vCPUs seen, the CMOS RTC reads host time, typed input reaches the guest, and petrel exits 0
after the power-off.

Virtio in the same boot: an ext4 image made here with mkfs.ext4 is attached with --disk (virtio-pci);
/init mounts /dev/vda, writes /petrel-test.txt (known content), prints its sha256, syncs and
unmounts; after the power-off the file is read back from the image with debugfs and checked. A
virtio-rng device on virtio-mmio (found through the DSDT) must become the guest's hwrng.
As root, petrel runs in a network namespace with a tap (10.213.0.1/24, removed afterwards):
with --net the guest's virtio-net interface gets 10.213.0.2, pings the host side, and sends
64 KiB with busybox nc over one TCP connection that carries the host's reply back.

A boot takes minutes on a nested (PVM) host; tests/linux/linuxlib.py bounds every wait (reaching
/init, then finishing the checks) and stops at the first sign of a broken guest. The whole console
(and petrel's stderr, marked) is written to build/linux-boot.log as it arrives:
`tail -f build/linux-boot.log` shows a boot in progress.

Env: PETREL (binary), PETREL_LINUX_INIT_TIMEOUT / PETREL_LINUX_CHECKS_TIMEOUT (seconds, see
linuxlib.py), PETREL_CMDLINE_EXTRA.
"""

import ctypes
import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from linuxlib import assert_healthy, run_console, spawn

ROOT = Path(__file__).resolve().parents[2]
GUEST = ROOT / "guest"
KERNEL = GUEST / "vmlinuz"
INITRD = GUEST / "initramfs.cpio"
PETREL = Path(os.environ.get("PETREL", ROOT / "build" / "petrel"))
LOG = ROOT / "build" / "linux-boot.log"

CPUS = 2
MEM_MIB = 512
TIMEOUT_S = 30 * 60  # the host side of the network check gives up after this
RTC_TOLERANCE_S = 120  # RTC vs host clock when the line arrives; a frozen RTC drifts past it
INPUT_LINE = "hello-petrel"

# Kernel command line: console on the UART petrel wires to stdio, then options that shorten a
# boot under very slow ring-0 emulation or turn a failure into an exit instead of a hang.
CMDLINE = [
    "console=ttyS0",  # all kernel output on the 8250 UART -> petrel's stdout
    "panic=-1",  # on a panic reboot at once, so petrel exits instead of hanging
    "nokaslr",  # no random placement: no relocation pass, RIPs match System.map
    "tsc=reliable",  # trust the TSC: no clocksource watchdog, no TSC sync checks
    "no_timer_check",  # skip the IO-APIC timer check (a timed loop)
    "i8042.noaux",  # no PS/2 mouse port probing
    "8250.nr_uarts=1",  # probe ttyS0 only, not ttyS1..3
    "random.trust_cpu=on",  # seed the RNG from RDRAND, never wait for entropy
    "cryptomgr.notests",  # skip the crypto self-tests (ring-0 number crunching)
    "mitigations=off",  # cheaper kernel entry/exit (no PTI, retpolines, buffer clears)
    "nowatchdog",  # no lockup detectors: a slow guest would trip them
    "audit=0",  # no audit subsystem
    # Initcalls that cost minutes of emulated ring 0 and do nothing this guest needs (measured
    # with initcall_debug on a PVM host): waiting for the tracefs event files (135 s) in the
    # kprobe/uprobe/dynamic-event tracing interfaces; parsing the kernel's BTF (93 s) for BPF
    # kfunc sets and TCP CUBIC (TCP falls back to Reno); crypto self-tests that
    # cryptomgr.notests does not cover (KDF108 21 s, BLAKE2s 9 s).
    "initcall_blacklist=init_kprobe_trace,init_dynamic_event,init_uprobe_trace,cubictcp_register,"
    "bpf_rstat_kfunc_init,bpf_key_sig_kfuncs_init,kfunc_init,bpf_prog_test_run_init,"
    "bpf_tcp_ca_kfunc_init,crypto_kdf108_init,blake2s_mod_init",
    # Full log level on purpose: the printk timestamps in the log show where a slow boot
    # spends its time, and a hang shows its last message.
    "petrel.test=1",  # /init runs the checks and powers off (scripts/guest-init)
    "petrel.disk=ext4",  # /dev/vda is ext4: mount it, write /petrel-test.txt, unmount
]

# Per run (two runs at once must not share an image); removed when the test passes.
DISK = ROOT / "build" / f"linux-boot-disk.{os.getpid()}.img"
DISK_FILE = "/petrel-test.txt"
# What scripts/guest-init writes into DISK_FILE.
DISK_CONTENT = "".join(f"petrel virtio-blk line {i}\n" for i in range(2000)).encode()


def _make_disk():
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    if not os.path.exists(mkfs):
        pytest.fail("mkfs.ext4 not found: install e2fsprogs (scripts/setup.sh does)")
    DISK.parent.mkdir(parents=True, exist_ok=True)
    if DISK.exists():
        DISK.unlink()
    with open(DISK, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run([mkfs, "-F", "-q", "-L", "petrel", str(DISK)], check=True, capture_output=True)


class _NetPeer:
    """The host end of virtio-net: a network namespace holding a tap (HOST_IP/24) that petrel
    runs in, and one TCP server there that reads the guest's data until EOF, then answers
    with NET_REPLY and closes. Needs root; None when that is not available (outside CI)."""

    NS = f"petrel-lnx-{os.getpid()}"
    TAP, MAC, HOST_IP, GUEST_IP, PORT = "ptap0", "02:70:65:74:72:01", "10.213.0.1", "10.213.0.2", 5555
    NET_REPLY = bytes((i * 7 + 3) & 0xFF for i in range(48 * 1024))

    @classmethod
    def start(cls):
        missing = [w for w, ok in (("root", os.geteuid() == 0), ("/dev/net/tun", os.path.exists("/dev/net/tun")),
                                   ("ip", shutil.which("ip"))) if not ok]
        if missing:
            if os.environ.get("CI"):
                pytest.fail(f"virtio-net check needs {', '.join(missing)}")
            return None
        peer = cls()
        ns = ["ip", "netns", "exec", cls.NS]
        try:
            subprocess.run(["ip", "netns", "add", cls.NS], check=True, capture_output=True)
            for cmd in (["ip", "tuntap", "add", "dev", cls.TAP, "mode", "tap", "vnet_hdr"],
                        ["ip", "addr", "add", f"{cls.HOST_IP}/24", "dev", cls.TAP],
                        ["ip", "link", "set", cls.TAP, "up"], ["ip", "link", "set", "lo", "up"]):
                subprocess.run(ns + cmd, check=True, capture_output=True)
            peer.server = peer._listen()
        except Exception:
            peer.close()
            raise
        peer.got = None
        peer.thread = threading.Thread(target=peer._serve, daemon=True)
        peer.thread.start()
        return peer

    def _listen(self):
        """A listening socket inside the namespace (setns on a helper thread)."""
        out = {}

        def work():
            fd = os.open(f"/run/netns/{self.NS}", os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
                    raise OSError(ctypes.get_errno(), "setns")
                s = socket.socket()
                s.bind((self.HOST_IP, self.PORT))
                s.listen(1)
                out["sock"] = s
            except Exception as e:
                out["err"] = e
            finally:
                os.close(fd)

        t = threading.Thread(target=work)
        t.start()
        t.join()
        if "err" in out:
            raise out["err"]
        return out["sock"]

    def _serve(self):
        self.server.settimeout(TIMEOUT_S)
        try:
            conn, _ = self.server.accept()
            with conn:
                conn.settimeout(300)
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
                self.got = data
                conn.sendall(self.NET_REPLY)
        except OSError:
            pass

    def argv_prefix(self):
        return ["ip", "netns", "exec", self.NS]

    def close(self):
        if getattr(self, "server", None):
            self.server.close()
        subprocess.run(["ip", "netns", "del", self.NS], capture_output=True)


@pytest.fixture
def netpeer():
    peer = _NetPeer.start()
    yield peer
    if peer:
        peer.close()


def _read_back(path):
    """The file's bytes from the ext4 image, without mounting it."""
    debugfs = shutil.which("debugfs") or "/sbin/debugfs"
    p = subprocess.run([debugfs, "-R", f"cat {path}", str(DISK)], capture_output=True)
    return p.stdout


def _missing_guest():
    missing = [str(p.relative_to(ROOT)) for p in (KERNEL, INITRD) if not p.is_file()]
    if not missing:
        return
    msg = f"default guest missing ({', '.join(missing)}): run scripts/fetch-guest.sh"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def test_linux_boots_checks_echoes_and_powers_off(netpeer):
    _missing_guest()
    assert PETREL.is_file() and os.access(PETREL, os.X_OK), f"{PETREL} not built (ninja -C build)"

    _make_disk()
    cmdline = " ".join(CMDLINE + os.environ.get("PETREL_CMDLINE_EXTRA", "").split())
    argv = [str(PETREL), "run", "--kernel", str(KERNEL), "--initrd", str(INITRD),
            "--cmdline", cmdline, "--cpus", str(CPUS), "--mem", str(MEM_MIB), "--stats",
            "--disk", f"{DISK},id=petrel_disk", "--rng=transport=mmio"]
    if netpeer:  # virtio-net on a tap in a namespace of its own: petrel runs there too
        argv[argv.index("--cmdline") + 1] += (f" petrel.net={netpeer.GUEST_IP}/24,{netpeer.HOST_IP},"
                                              f"{netpeer.PORT}")
        argv = netpeer.argv_prefix() + argv + ["--net", f"tap={netpeer.TAP},mac={netpeer.MAC}"]
    LOG.parent.mkdir(parents=True, exist_ok=True)

    start = time.time()
    with open(LOG, "wb") as log:
        proc, con = spawn(argv, log, cwd=ROOT)
        run = run_console(proc, con, start, INPUT_LINE)
        log.write(f"\n# petrel exit status {proc.returncode} after {run.elapsed:.1f}s\n".encode())
    checks, rc = run.checks, run.rc
    print(f"console log: {LOG}; boot + checks took {run.elapsed:.1f}s; checks: "
          + ", ".join(f"{k}={v}" for k, (_, v) in checks.items()))
    where = assert_healthy(run, proc, con, LOG)

    assert "cpus" in checks, "no PETREL-CHECK cpus line" + where
    assert checks["cpus"][1] == str(CPUS), \
        f"guest sees {checks['cpus'][1]} CPUs, expected {CPUS}" + where

    assert "rtc" in checks and checks["rtc"][1] != "none", "guest has no RTC (rtc0)" + where
    when, rtc = checks["rtc"]
    drift = int(rtc) - when
    assert abs(drift) <= RTC_TOLERANCE_S, \
        f"guest RTC reads {rtc}, {drift:+.0f}s from the host clock when it was printed" + where

    assert run.read, "guest never prompted PETREL-READ>" + where
    assert run.echo == INPUT_LINE, \
        f"guest echoed {run.echo!r}, expected {INPUT_LINE!r}" + where
    assert run.done is not None, "guest did not finish its checks (PETREL-DONE)" + where

    assert rc == 0, f"petrel exited {rc} after the guest powered off, expected 0" + where

    # The 8250 must be interrupt driven, not polled: its IRQ line counted interrupts.
    irqs = checks.get("serial-irqs", (0, "0"))[1]
    assert irqs.isdigit() and int(irqs) > 0, \
        f"ttyS0 took {irqs} interrupts: the UART is polled, not interrupt driven" + where

    # virtio: PCI enumeration, the disk, the file written through it, the MMIO rng.
    pci = checks.get("pci-devices", (0, "0"))[1]
    assert pci.isdigit() and int(pci) >= 2, f"guest sees {pci} PCI functions (host bridge + virtio-blk)" + where
    assert checks.get("disk", (0, "none"))[1] == "vda", "no /dev/vda in the guest" + where
    assert checks.get("disk-sectors", (0, ""))[1] == str((64 << 20) // 512), \
        f"/dev/vda has {checks.get('disk-sectors')} sectors, expected {(64 << 20) // 512}" + where
    want = hashlib.sha256(DISK_CONTENT).hexdigest()
    got = checks.get("disk-file-sha256", (0, "missing"))[1]
    assert got == want, f"guest wrote a file with sha256 {got}, expected {want}" + where
    data = _read_back(DISK_FILE)
    assert hashlib.sha256(data).hexdigest() == want, \
        f"{DISK_FILE} in the image after power-off: {len(data)} bytes, sha256 " \
        f"{hashlib.sha256(data).hexdigest()}, expected {len(DISK_CONTENT)} bytes {want}" + where
    assert checks.get("hwrng", (0, "none"))[1].startswith("virtio_rng"), \
        f"guest hwrng is {checks.get('hwrng')}, expected virtio_rng (virtio-mmio via the DSDT)" + where
    rng = checks.get("hwrng-bytes", (0, ""))[1]
    assert len(rng) == 32 and len(set(rng)) > 4, f"/dev/hwrng gave {rng!r}" + where

    # virtio-net: the MAC, offloads and mergeable buffers negotiated, a ping to the host side of
    # the tap, and 64 KiB each way over one TCP connection (busybox nc).
    if netpeer:
        net = {k: checks.get(k, (0, "missing"))[1] for k in
               ("net-iface", "net-mac", "net-features", "net-ping", "net-tx-sha256", "net-rx-sha256")}
        assert net["net-mac"] == netpeer.MAC, f"guest interface: {net}" + where
        bits = net["net-features"]
        for bit, name in ((0, "CSUM"), (1, "GUEST_CSUM"), (7, "GUEST_TSO4"), (11, "HOST_TSO4"),
                          (15, "MRG_RXBUF"), (16, "STATUS")):
            assert len(bits) > bit and bits[bit] == "1", f"virtio-net {name} not negotiated: {bits}" + where
        assert net["net-ping"] == "ok", f"guest could not ping {netpeer.HOST_IP}: {net}" + where
        netpeer.thread.join(30)
        assert netpeer.got is not None and hashlib.sha256(netpeer.got).hexdigest() == net["net-tx-sha256"], \
            f"host got {len(netpeer.got or b'')} bytes over TCP, not what the guest sent: {net}" + where
        assert net["net-rx-sha256"] == hashlib.sha256(netpeer.NET_REPLY).hexdigest(), \
            f"guest did not receive the host's {len(netpeer.NET_REPLY)}-byte reply: {net}" + where
    DISK.unlink()
