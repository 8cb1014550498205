"""The default real-Linux guest (scripts/fetch-guest.sh, scripts/mkinitramfs.sh) as the tests in
tests/linux use it: its files, the kernel command line, and the ext4 disk /init writes to."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUEST = ROOT / "guest"
KERNEL = GUEST / "vmlinuz"     # Debian's bzImage: petrel decompresses it and enters through PVH
VMLINUX = GUEST / "vmlinux"    # the same kernel, uncompressed
# PETREL_INITRD: another initramfs for the same guest (e.g. a compressed one, to check petrel
# decompressing it on the host: bench/initrd.py, docs/performance.md).
INITRD = Path(os.environ.get("PETREL_INITRD", GUEST / "initramfs.cpio"))
PETREL = Path(os.environ.get("PETREL", ROOT / "build" / "petrel"))

# Kernel command line: console on the UART petrel wires to stdio, then options that shorten a
# boot under very slow ring-0 emulation or turn a failure into an exit instead of a hang.
CMDLINE = [
    "console=ttyS0",  # all kernel output on the 8250 UART -> petrel's stdout
    "panic=-1",  # on a panic reboot at once instead of hanging (linuxlib's BROKEN ends the wait at the panic line)
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
    # cryptomgr.notests does not cover (KDF108 21 s, BLAKE2s 9 s). Then (initcall_debug under
    # nested KVM, issue 43): the CPU LED triggers (0.48 s; the guest has no LEDs) and the
    # lookups of accelerated CRC-T10DIF and CRC64-Rocksoft (0.19 s; without them those CRCs
    # use their generic code, and nothing in this guest computes them).
    "initcall_blacklist=init_kprobe_trace,init_dynamic_event,init_uprobe_trace,cubictcp_register,"
    "bpf_rstat_kfunc_init,bpf_key_sig_kfuncs_init,kfunc_init,bpf_prog_test_run_init,"
    "bpf_tcp_ca_kfunc_init,crypto_kdf108_init,blake2s_mod_init,ledtrig_cpu_init,"
    "crc_t10dif_mod_init,crc64_rocksoft_mod_init",
    # Kernel messages below warnings stay in the kernel's log, off the console: the 8250
    # console writes each byte with two port I/O exits (LSR, THR) and runs its driver in guest
    # ring 0; under nested KVM (initcall_debug, issue 43) printing cost ~0.8 ms per byte, 18 s
    # of a 23 s boot to /init for the 23 KiB the kernel prints before it. /init prints the
    # kernel log when a check fails (scripts/guest-init); PETREL_LINUX_VERBOSE=1 puts the
    # full log level back (a hang then shows its last message, printk timestamps show where
    # a slow boot spends its time).
    "quiet",
    "petrel.test=1",  # /init runs the checks and powers off (scripts/guest-init)
    "petrel.disk=ext4",  # /dev/vda is ext4: mount it, write /petrel-test.txt, unmount
]

if os.environ.get("PETREL_LINUX_VERBOSE") == "1":
    CMDLINE.append("loglevel=7")  # after quiet: the later one wins

# What /init writes into DISK_FILE on an ext4 /dev/vda (petrel.disk=ext4).
DISK_FILE = "/petrel-test.txt"
DISK_CONTENT = "".join(f"petrel virtio-blk line {i}\n" for i in range(2000)).encode()


def missing_guest():
    """Skip (fail in CI) when the default guest was not fetched and built."""
    missing = [str(p.relative_to(ROOT)) for p in (KERNEL, INITRD) if not p.is_file()]
    if not missing:
        return
    msg = f"default guest missing ({', '.join(missing)}): run scripts/fetch-guest.sh"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def make_ext4(path, mib):
    """An empty ext4 file system of mib MiB in the file path (replaced if there)."""
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    if not os.path.exists(mkfs):
        pytest.fail("mkfs.ext4 not found: install e2fsprogs (scripts/setup.sh does)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(mib << 20)
    subprocess.run([mkfs, "-F", "-q", "-L", "petrel", str(path)], check=True, capture_output=True)


def read_back(image, path):
    """A file's bytes from an ext4 image, without mounting it."""
    debugfs = shutil.which("debugfs") or "/sbin/debugfs"
    return subprocess.run([debugfs, "-R", f"cat {path}", str(image)], capture_output=True).stdout


def api_argv(sock, netpeer=None):
    """`petrel --api-sock SOCK`, in the network peer's namespace when the guest has one."""
    argv = [str(PETREL), "--api-sock", str(sock), "--level", "Info"]
    return netpeer.argv_prefix() + argv if netpeer else argv


VIRTIOFSD = Path("/usr/lib/qemu/virtiofsd")  # Debian 12's C virtiofsd (qemu-system-common)


def virtiofsd_missing():
    """Why Debian's virtiofsd cannot run here (it needs root for its sandbox), or None."""
    if not VIRTIOFSD.is_file():
        return f"{VIRTIOFSD} not installed (qemu-system-common, scripts/setup.sh)"
    if os.geteuid() != 0:
        return "virtiofsd needs root"
    return None


def start_virtiofsd(sock, source, log):
    """Debian's virtiofsd serving the directory source on the Unix socket sock, once the socket
    is there; its output to the open file log. The caller stops it (it also exits by itself
    when petrel's connection ends)."""
    sock = Path(sock)
    sock.unlink(missing_ok=True)
    proc = subprocess.Popen([str(VIRTIOFSD), f"--socket-path={sock}", "-o", f"source={source}",
                             "-o", "sandbox=chroot", "-o", "log_level=warn"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    deadline = time.time() + 30
    while not sock.exists():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"virtiofsd never made {sock} (exit status {proc.returncode})")
        time.sleep(0.05)
    return proc


def stop(proc):
    """Stop a helper process started by a test, if it still runs."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
