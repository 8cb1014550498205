# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of the petrel command line and JSON VM definitions.

Each test runs build/petrel as a subprocess and finishes in seconds.  Guests
come from tests/guests (build/tests/guests/*.elf) or are tiny PVH kernels
assembled here (pvh_kernel()).  Tests that reject something start from a
command line that would otherwise succeed (exit 0), so that petrel ignoring
the bad input fails the test instead of passing it by accident.

Paths: the repository root is two directories above this file; the build
directory is $PETREL_BUILD or <root>/build.
"""
import json
import os
import pty
import random
import re
import select
import shlex
import shutil
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

import petrel_test

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("PETREL_BUILD", REPO / "build")).resolve()
PETREL = BUILD / "petrel"
GUESTS = BUILD / "tests" / "guests"
TIMEOUT = 30
TOKEN = "petrel-test-token=1234"


def need_petrel():
    if not PETREL.exists():
        pytest.skip(f"{PETREL} not built")


def need_kvm():
    petrel_test.require_kvm()
    need_petrel()


def guest(name, kind="elf") -> Path:
    need_kvm()
    p = GUESTS / f"{name}.{kind}"
    if not p.exists():
        pytest.skip(f"{p} not built (meson -Dguests=true)")
    return p


def petrel(*args, timeout=TIMEOUT, input=b"", **kw) -> subprocess.CompletedProcess:
    """Run petrel to its end; stdin is `input` then EOF."""
    need_petrel()
    try:
        return subprocess.run([str(PETREL), *map(str, args)], input=input, capture_output=True,
                              timeout=timeout, cwd=REPO, **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"petrel {' '.join(map(str, args))} did not finish in {timeout}s\n"
                    f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")


def out(p) -> str:
    return p.stdout.decode("utf-8", "replace").replace("\r", "")


def err(p) -> str:
    return p.stderr.decode("utf-8", "replace").replace("\r", "")


def describe(p) -> str:
    return f"$ {' '.join(map(str, p.args))}\nexit status {p.returncode}\n--- stdout ---\n{out(p)}\n--- stderr ---\n{err(p)}"


def boot_ok_args(mem=64):
    """A command line that boots the boot guest to "ok boot" (exit 0)."""
    return ["--kernel", guest("boot"), "--debug-exit", "--mem", mem, "--cmdline",
            f"{TOKEN} expect_boot=pvh expect_mem={mem}"]


def assert_error(p, status, *patterns):
    """Failed with `status` (None: any non-zero exit, not a signal) and stderr matching every pattern."""
    if status is None:
        assert p.returncode > 0, describe(p)
    else:
        assert p.returncode == status, describe(p)
    for pat in patterns:
        assert re.search(pat, err(p), re.I | re.M), f"stderr does not match {pat!r}\n{describe(p)}"
    assert not re.search(r"^ok ", out(p), re.M), f"the guest ran anyway\n{describe(p)}"


# ---- tiny PVH kernels ----

def pvh_kernel(code: bytes, note=True, elfclass=64) -> bytes:
    """An ELF with one PT_LOAD at 1 MiB holding `code` (entered in 32-bit protected mode
    through the PVH note) and, if `note`, the XEN_ELFNOTE_PHYS32_ENTRY note."""
    load = 0x100000
    if elfclass == 32:
        ehdr = struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + bytes(9), 2, 3, 1, load,
                           52, 0, 0, 52, 32, 1, 40, 0, 0)
        phdr = struct.pack("<IIIIIIII", 1, 0x1000, load, load, len(code), len(code), 7, 0x1000)
        img = bytearray(ehdr + phdr)
        img += bytes(0x1000 - len(img))
        return bytes(img + code)
    nphdr = 2 if note else 1
    note_off = 64 + 56 * nphdr
    desc = struct.pack("<I", load)
    note_bytes = struct.pack("<III", 4, len(desc), 18) + b"Xen\0" + desc
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 2, 62, 1, load,
                       64, 0, 0, 64, 56, nphdr, 64, 0, 0)
    phdrs = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, load, load, len(code), len(code), 0x1000)
    if note:
        phdrs += struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note_bytes), len(note_bytes), 4)
    img = bytearray(ehdr + phdrs + (note_bytes if note else b""))
    img += bytes(0x1000 - len(img))
    return bytes(img + code)


HALT = b"\xf4\xeb\xfd"                      # 1: hlt; jmp 1b


def code_debug_exit(v):
    return b"\xb0" + bytes([v]) + b"\xe6\xf4" + HALT  # mov $v, %al; out %al, $0xf4


CODE_ACPI_S5 = (b"\x66\xba\x04\x06"         # mov $0x604, %dx      (PM1a control)
                b"\x66\xb8\x00\x34"         # mov $0x3400, %ax     (SLP_EN | SLP_TYP 5)
                b"\x66\xef" + HALT)         # out %ax, %dx
CODE_ACPI_RESET = (b"\x66\xba\x06\x06"      # mov $0x606, %dx      (FADT reset register)
                   b"\xb0\x01\xee" + HALT)  # mov $1, %al; out %al, %dx


def write(tmp_path, name, data) -> Path:
    p = Path(tmp_path) / name
    if isinstance(data, (dict, list)):
        data = json.dumps(data, indent=1)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


# ---- usage errors (exit 2) ----

def test_help_and_version():
    p = petrel("run", "--help")
    assert p.returncode == 0, describe(p)
    assert re.search(r"usage: petrel run", out(p)) and "--kernel" in out(p) and "--config" in out(p), describe(p)
    p = petrel("--help")
    assert p.returncode == 0 and "usage" in out(p), describe(p)
    p = petrel("--version")
    assert p.returncode == 0 and re.search(r"^Firecracker v\d+\.\d+\.\d+\S*\+petrel\.", out(p)), describe(p)


def test_unknown_command():
    # (no arguments at all is Firecracker's command line: an API server; not tested here)
    p = petrel("frobnicate", timeout=10)
    assert_error(p, 2, r"frobnicate")


def test_run_without_kernel():
    assert_error(petrel("run"), 2, r"kernel")
    assert_error(petrel("run", "--cpus", "2"), 2, r"kernel")


def test_good_command_line_boots():
    # the baseline the rejection tests below build on
    p = petrel("run", *boot_ok_args())
    assert p.returncode == 0 and re.search(r"^ok boot$", out(p), re.M), describe(p)


@pytest.mark.parametrize("args,field", [
    (["--bogus"], r"--bogus"),
    (["--cpus"], r"--cpus"),
    (["--cpus", "0"], r"cpus|vcpu_count"),
    (["--cpus", "65"], r"cpus|vcpu_count"),
    (["--cpus", "abc"], r"cpus"),
    (["--cpus", "-1"], r"cpus"),
    (["--cpus", "2x"], r"cpus"),
    (["--mem", "1"], r"mem"),
    (["--mem", "abc"], r"mem"),
    (["--mem", str(1 << 40)], r"mem"),
    (["--smt", "--cpus", "3"], r"smt|cpus|vcpu_count"),
    (["--huge-pages", "1G"], r"--huge-pages: expected None, Transparent or 2M"),
    (["--huge-pages", "2M", "--mem", "65"], r"huge_pages 2M needs an even memory size"),
    (["--pvm", "maybe"], r"--pvm"),
    (["--level", "Loud"], r"--level"),
    (["stray-argument"], r"stray-argument"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_option(args, field):
    p = petrel("run", *boot_ok_args(), *args)
    assert_error(p, 2, field)


@pytest.mark.parametrize("args", [["--next-standby", "unix:/tmp/petrel-next.sock"],
                                  ["--incoming", "unix:/tmp/petrel-in.sock", "--next-standby", "unix:/tmp/n.sock"]],
                         ids=["alone", "with-incoming"])
def test_next_standby_needs_standby(args):
    p = petrel("run", *args)
    assert_error(p, 2, r"--next-standby and --takeover go with --standby only")


@pytest.mark.parametrize("mode", ["--incoming", "--standby"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
@pytest.mark.parametrize("peer", ["none", "silent"])
def test_waiting_for_a_vm_stops_on_a_signal(tmp_path, mode, sig, peer):
    """`petrel run --incoming/--standby` waiting for a VM to arrive ended on SIGTERM/SIGINT
    (Ctrl-C): the signals were blocked for a signalfd that only the console loop read, so the
    wait ignored them and only SIGKILL ended it. With a peer connected that sends nothing, a
    standby still waited up to a minute for its bytes. Needs no /dev/kvm: nothing arrives."""
    need_petrel()
    sock = tmp_path / "in.sock"
    p = subprocess.Popen([str(PETREL), "run", mode, f"unix:{sock}"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=REPO)
    conn = None
    try:
        deadline = time.monotonic() + TIMEOUT
        while not sock.exists():   # listening: the wait has begun
            assert p.poll() is None, p.stderr.read().decode()
            assert time.monotonic() < deadline, "never listened"
            time.sleep(0.02)
        if peer == "silent":
            import socket
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.connect(str(sock))
            time.sleep(0.3)   # accepted: the wait is for the peer's first message now
        start = time.monotonic()
        p.send_signal(sig)
        _, e = p.communicate(timeout=TIMEOUT)
        assert time.monotonic() - start < 10, "the stop waited for the peer"
    finally:
        if conn:
            conn.close()
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == -sig, e.decode()   # dies by the signal, cleaned up
    assert f"stopped by signal {int(sig)} before a VM arrived" in e.decode()
    assert "ERROR" not in e.decode()   # a cancelled wait is not a failure


@pytest.mark.parametrize("args,what", [
    (["--cpu-template", "Bogus"], r"Bogus"),
    (["--cpu-config", "/nonexistent/petrel-template.json"], r"/nonexistent/petrel-template\.json"),
])
def test_bad_cpu_template(args, what):
    # documented as a configuration error (status 2); any failure naming it is accepted here
    assert_error(petrel("run", *boot_ok_args(), *args), None, what)


# ---- kernel and initrd problems ----

def single_reason(p, needle):
    lines = [l for l in err(p).splitlines() if l.strip()]
    hits = [l for l in lines if needle in l]
    assert len(hits) == 1, f"expected one stderr line naming {needle!r}\n{describe(p)}"
    assert len(lines) <= 2, f"expected a one-line reason\n{describe(p)}"
    return hits[0]


def test_missing_kernel_file(tmp_path):
    need_kvm()
    path = tmp_path / "no-such-vmlinuz"
    p = petrel("run", "--kernel", path)
    assert_error(p, None)
    line = single_reason(p, str(path))
    assert re.search(r"no such file|cannot read|not found", line, re.I), describe(p)


def bzimage_prefix(n):
    return guest("boot", "bzimage").read_bytes()[:n]


BAD_KERNELS = {
    "random": (lambda: random.Random(1234).randbytes(64 * 1024), r"neither a bzImage nor|not a bzImage"),
    "empty": (lambda: b"", r"empty|too small|neither a bzImage nor"),
    "truncated-bzimage-header": (lambda: bzimage_prefix(0x240), r"too small|truncated"),
    "truncated-bzimage-setup": (lambda: bzimage_prefix(0x800), r"truncated|too small"),
    "elf-without-pvh-note": (lambda: pvh_kernel(code_debug_exit(0), note=False), r"PVH"),
    "elf32": (lambda: pvh_kernel(code_debug_exit(0), elfclass=32), r"ELF64|x86-64|64-bit"),
    "elf-header-only": (lambda: pvh_kernel(code_debug_exit(0))[:40], r"ELF"),
}


@pytest.mark.parametrize("name", list(BAD_KERNELS))
def test_invalid_kernel_image(tmp_path, name):
    need_kvm()
    make, pattern = BAD_KERNELS[name]
    k = write(tmp_path, f"{name}.img", make())
    p = petrel("run", "--kernel", k, "--debug-exit")
    assert_error(p, None, pattern)
    assert len([l for l in err(p).splitlines() if l.strip()]) <= 2, f"expected a short reason\n{describe(p)}"


def test_tiny_pvh_kernel_boots(tmp_path):
    # the control for the kernels above: the same builder with the note boots
    need_kvm()
    p = petrel("run", "--kernel", write(tmp_path, "ok.elf", pvh_kernel(code_debug_exit(0))), "--debug-exit",
               timeout=10)
    assert p.returncode == 0, describe(p)


def test_missing_initrd(tmp_path):
    path = tmp_path / "no-such-initrd.cpio"
    p = petrel("run", *boot_ok_args(), "--initrd", path)
    assert_error(p, None)
    single_reason(p, str(path))


def test_no_dev_kvm():
    need_kvm()
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    if not unshare or not mount:
        pytest.skip("unshare/mount not installed")
    probe = subprocess.run([unshare, "-m", "sh", "-c", "mount -t tmpfs none /dev && test ! -e /dev/kvm"],
                           capture_output=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip(f"cannot hide /dev/kvm in a mount namespace: {probe.stderr.decode(errors='replace').strip()}")
    args = " ".join(shlex.quote(str(a)) for a in [PETREL, "run", *boot_ok_args()])
    p = subprocess.run([unshare, "-m", "sh", "-c", f"mount -t tmpfs none /dev && exec {args}"],
                       capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, cwd=REPO)
    assert_error(p, None, r"/dev/kvm")
    single_reason(p, "/dev/kvm")


# ---- the JSON VM definition ----

def vm_json(kernel, boot_args, vcpus=1, mem=64, **extra):
    d = {"boot-source": {"kernel_image_path": str(kernel), "boot_args": boot_args},
         "machine-config": {"vcpu_count": vcpus, "mem_size_mib": mem}}
    d.update(extra)
    return d


def test_config_boots(tmp_path):
    cfg = write(tmp_path, "vm.json", vm_json(guest("boot"), f"{TOKEN} expect_boot=pvh expect_mem=96", mem=96))
    p = petrel("run", "--config", cfg, "--debug-exit")
    assert p.returncode == 0 and re.search(r"^ok boot$", out(p), re.M), describe(p)


def test_config_with_all_supported_fields(tmp_path):
    cfg = write(tmp_path, "vm.json", vm_json(
        guest("boot"), f"{TOKEN} expect_mem=64", drives=[], **{"network-interfaces": []}))
    d = json.loads(cfg.read_text())
    d["machine-config"].update(smt=False, cpu_template="None", track_dirty_pages=False, huge_pages="None")
    d["boot-source"]["initrd_path"] = None
    write(tmp_path, "vm.json", d)
    p = petrel("run", "--config", cfg, "--debug-exit")
    assert p.returncode == 0 and "ok boot" in out(p), describe(p)


def test_config_vcpu_count_is_used(tmp_path):
    cfg = write(tmp_path, "vm.json", vm_json(guest("smp"), "cpus=2", vcpus=2))
    p = petrel("run", "--config", cfg, "--debug-exit")
    assert p.returncode == 0 and re.search(r"^smp cpus=2$", out(p), re.M), describe(p)


def test_cli_overrides_config(tmp_path):
    # the file says 1 vCPU, 128 MiB, a kernel that does not exist and the wrong cmdline
    cfg = write(tmp_path, "vm.json", vm_json(tmp_path / "missing-kernel", "cpus=1", vcpus=1, mem=128))
    p = petrel("run", "--config", cfg, "--debug-exit", "--kernel", guest("smp"), "--cpus", "2",
               "--cmdline", "cpus=2")
    assert p.returncode == 0 and re.search(r"^smp cpus=2$", out(p), re.M), describe(p)
    # option order does not matter: the file is read first, options override it
    cfg2 = write(tmp_path, "vm2.json", vm_json(guest("boot"), f"{TOKEN} expect_mem=128", mem=128))
    p = petrel("run", "--mem", "64", "--cmdline", f"{TOKEN} expect_mem=64", "--config", cfg2, "--debug-exit")
    assert p.returncode == 0 and "ok boot" in out(p), describe(p)


@pytest.mark.parametrize("case", [
    "unknown-top", "unknown-boot-source", "unknown-machine-config", "vcpus-string", "vcpus-zero",
    "vcpus-negative", "mem-bool", "mem-too-small", "boot-args-number", "no-kernel-path", "no-vcpu-count",
    "not-an-object", "machine-config-array", "unknown-template", "logger", "metrics", "drives-not-array",
    "duplicate-key",
    "malformed", "empty-file",
])
def test_config_rejected(tmp_path, case):
    k = guest("boot")
    good = vm_json(k, f"{TOKEN} expect_mem=64")

    def with_(section, **kv):
        d = json.loads(json.dumps(good))
        d[section].update(kv)
        return d

    cases = {
        "unknown-top": (dict(good, bogus_section={}), r"bogus_section"),
        "unknown-boot-source": (with_("boot-source", kernel_args="x"), r"boot-source\.kernel_args"),
        "unknown-machine-config": (with_("machine-config", vcpus=2), r"machine-config\.vcpus\b"),
        "vcpus-string": (with_("machine-config", vcpu_count="2"), r"machine-config\.vcpu_count"),
        "vcpus-zero": (with_("machine-config", vcpu_count=0), r"machine-config\.vcpu_count"),
        "vcpus-negative": (with_("machine-config", vcpu_count=-1), r"machine-config\.vcpu_count"),
        "mem-bool": (with_("machine-config", mem_size_mib=True), r"machine-config\.mem_size_mib"),
        "mem-too-small": (with_("machine-config", mem_size_mib=1), r"machine-config\.mem_size_mib"),
        "boot-args-number": (with_("boot-source", boot_args=5), r"boot-source\.boot_args"),
        "no-kernel-path": ({"boot-source": {"boot_args": TOKEN}, "machine-config": good["machine-config"]},
                           r"kernel_image_path"),
        "no-vcpu-count": ({"boot-source": good["boot-source"], "machine-config": {"mem_size_mib": 64}},
                          r"machine-config\.vcpu_count"),
        "not-an-object": ([good], r"object"),
        "machine-config-array": (dict(good, **{"machine-config": []}), r"machine-config"),
        "unknown-template": (with_("machine-config", cpu_template="Z9"), r"cpu_template"),
        # sections of Firecracker's format petrel does not implement yet (src/config/vm_config.c)
        "logger": (dict(good, logger={"log_path": "/tmp/petrel-test.log", "level": "Info"}),
                   r"logger.*not supported"),
        "metrics": (dict(good, metrics={"metrics_path": "/tmp/petrel-test.metrics"}), r"metrics.*not supported"),
        "drives-not-array": (dict(good, drives={"drive_id": "rootfs"}), r"drives"),
        "duplicate-key": ('{"boot-source": {"kernel_image_path": "%s", "kernel_image_path": "%s"}}' % (k, k),
                          r"duplicate|invalid JSON"),
        "malformed": ('{"boot-source": {"kernel_image_path": "%s",}' % k, r"invalid JSON|line \d+"),
        "empty-file": ("", r"invalid JSON|empty|line"),
    }
    data, pattern = cases[case]
    cfg = write(tmp_path, "vm.json", data)
    # --kernel and --cmdline make a bootable VM even if petrel ignored the file's problem
    p = petrel("run", "--config", cfg, "--kernel", k, "--cmdline", f"{TOKEN} expect_mem=64", "--mem", "64",
               "--debug-exit")
    assert_error(p, 2, pattern)
    assert len([l for l in err(p).splitlines() if l.strip()]) == 1, f"expected one line\n{describe(p)}"


def test_config_drive_file_missing(tmp_path):
    k = guest("boot")
    img = tmp_path / "no-such-disk.img"
    cfg = write(tmp_path, "vm.json", vm_json(k, f"{TOKEN} expect_mem=64", drives=[
        {"drive_id": "rootfs", "path_on_host": str(img), "is_root_device": True, "is_read_only": False}]))
    p = petrel("run", "--config", cfg, "--debug-exit")
    assert_error(p, None, re.escape(str(img)))


def test_config_file_missing(tmp_path):
    path = tmp_path / "no-such-vm.json"
    p = petrel("run", "--config", path, *boot_ok_args())
    assert_error(p, 2, re.escape(str(path)))


# ---- how runs end ----

def test_debug_exit_status_propagates(tmp_path):
    need_kvm()
    for v in (0, 7, 42, 255):
        k = write(tmp_path, f"exit{v}.elf", pvh_kernel(code_debug_exit(v)))
        p = petrel("run", "--kernel", k, "--debug-exit", "--mem", "32", timeout=10)
        assert p.returncode == v, describe(p)
        assert re.search(rf"debug-exit.*\b{v}\b|\b{v}\b.*debug-exit", err(p)), describe(p)


def test_guest_failure_status():
    # the boot guest without its token fails and writes 1 to the debug-exit port
    p = petrel("run", "--kernel", guest("boot"), "--debug-exit", "--mem", "64", "--cmdline", "expect_boot=pvh")
    assert p.returncode == 1 and re.search(r"^FAIL boot", out(p), re.M), describe(p)


@pytest.mark.parametrize("how", ["acpi-s5", "acpi-reset", "i8042", "triple"])
def test_guest_stop_is_status_0(tmp_path, how):
    need_kvm()
    if how == "acpi-s5":
        p = petrel("run", "--kernel", write(tmp_path, "s5.elf", pvh_kernel(CODE_ACPI_S5)), "--mem", "32",
                   timeout=10)
        reason = r"powered off"
    elif how == "acpi-reset":  # --no-reboot: a reset ends the VM (else it boots again)
        p = petrel("run", "--kernel", write(tmp_path, "rst.elf", pvh_kernel(CODE_ACPI_RESET)), "--mem", "32",
                   "--no-reboot", timeout=10)
        reason = r"reset"
    else:
        p = petrel("run", "--kernel", guest("reset"), "--debug-exit", "--mem", "64", "--cmdline", f"mode={how}",
                   "--no-reboot")
        reason = r"reset|triple|shut ?down"
    assert p.returncode == 0, describe(p)
    assert "still running" not in out(p), describe(p)
    lines = [l for l in err(p).splitlines() if l.strip()]
    assert len(lines) == 1 and re.search(rf"^petrel: .*({reason})", lines[0], re.I), \
        f"expected one line with the stop reason\n{describe(p)}"


def test_unhandled_exit_is_one_line():
    p = petrel("run", "--kernel", guest("unhandled"), "--debug-exit", "--mem", "64")
    assert p.returncode == 1, describe(p)
    m = re.search(r"rip=([0-9a-f]+)", out(p))
    assert m, describe(p)
    rip = int(m.group(1), 16)
    lines = [l for l in err(p).splitlines() if "RIP" in l]
    assert len(lines) == 1, f"expected one stderr line with the RIP\n{describe(p)}"
    line = lines[0]
    assert re.search(rf"\b(0x)?0*{rip:x}\b", line, re.I), describe(p)
    assert re.search(r"\b66 0f 74 00\b", line, re.I), f"instruction bytes missing\n{describe(p)}"
    assert re.search(r"exit|emulat", line, re.I), describe(p)


def test_stats_table():
    p = petrel("run", *boot_ok_args(), "--stats")
    assert p.returncode == 0 and "ok boot" in out(p), describe(p)
    e = err(p)
    assert re.search(r"^petrel exit statistics", e, re.M), describe(p)
    m = re.search(r"^\s*io-out\s+(\d+)\s", e, re.M)
    assert m and int(m.group(1)) > 0, describe(p)
    t = re.search(r"^\s*total\s+(\d+)\s", e, re.M)
    assert t and int(t.group(1)) >= int(m.group(1)), describe(p)
    assert "exit statistics" not in out(p), "statistics belong on stderr"


def test_no_stats_without_option():
    p = petrel("run", *boot_ok_args())
    assert p.returncode == 0 and "exit statistics" not in err(p) + out(p), describe(p)


# ---- stopping a running VM ----

class PtyReader:
    def __init__(self, fd):
        self.fd, self.buf = fd, b""

    def expect(self, pattern: bytes, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        while not re.search(pattern, self.buf):
            left = end - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    return bool(re.search(pattern, self.buf))
                if not chunk:
                    return bool(re.search(pattern, self.buf))
                self.buf += chunk
        return True


def test_ctrl_a_x_on_a_terminal():
    img = guest("serial")
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([str(PETREL), "run", "--kernel", str(img), "--debug-exit", "--mem", "64",
                             "--cmdline", "lines=2"],
                            stdin=slave, stdout=slave, stderr=subprocess.PIPE, cwd=REPO, start_new_session=True)
    try:
        rd = PtyReader(master)
        assert rd.expect(rb"READY\r*\n"), f"no READY: {rd.buf!r}"
        # Ctrl-A Ctrl-A is a literal Ctrl-A; the guest echoes the line
        os.write(master, b"a\x01\x01b\r")
        assert rd.expect(rb"got: a\x01b\r*\n"), f"line with a literal Ctrl-A not echoed: {rd.buf!r}"
        t0 = time.monotonic()
        os.write(master, b"\x01x")
        rc = proc.wait(timeout=5)
        elapsed = time.monotonic() - t0
        stderr = proc.stderr.read().decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = termios.tcgetattr(slave)
    os.close(slave)
    os.close(master)
    assert rc == 0, f"exit status {rc}\n{stderr}"   # the user stopped it: 0 (docs/user-guide.md)
    assert elapsed < 5
    assert re.search(r"(stop|quit).*Ctrl-A x|Ctrl-A x.*(stop|quit)", "\n".join(
        l for l in stderr.splitlines() if "press" not in l)), f"no stop reason naming Ctrl-A x:\n{stderr}"
    assert b"ok serial" not in rd.buf
    # the terminal is given back as it was
    assert after[3] == before[3] and after[0] == before[0] and after[1] == before[1], \
        f"terminal modes not restored: lflag {before[3]:#x} -> {after[3]:#x}"


def test_ctrl_a_x_is_not_special_on_a_pipe():
    # on a pipe the bytes are console input, not an escape
    img = guest("serial")
    proc = subprocess.Popen([str(PETREL), "run", "--kernel", str(img), "--debug-exit", "--mem", "64",
                             "--cmdline", "lines=1"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    try:
        rd = PtyReader(proc.stdout.fileno())
        assert rd.expect(rb"READY\r*\n"), rd.buf
        proc.stdin.write(b"\x01x\n")
        proc.stdin.flush()
        assert rd.expect(rb"got: \x01x\r*\n"), rd.buf
        rc = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("stdin_eof", [False, True], ids=["stdin-open", "stdin-eof"])
def test_signal_stops_vm(sig, stdin_eof):
    img = guest("serial")
    proc = subprocess.Popen([str(PETREL), "run", "--kernel", str(img), "--debug-exit", "--mem", "64",
                             "--cmdline", "lines=1"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    try:
        rd = PtyReader(proc.stdout.fileno())
        assert rd.expect(rb"READY\r*\n"), rd.buf
        if stdin_eof:
            # end of input does not stop the VM: the guest keeps waiting
            proc.stdin.close()
            time.sleep(0.5)
            assert proc.poll() is None, "petrel stopped when stdin reached end of file"
        t0 = time.monotonic()
        proc.send_signal(sig)
        rc = proc.wait(timeout=5)
        elapsed = time.monotonic() - t0
        stderr = proc.stderr.read().decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == -sig, f"exit status {rc}\n{stderr}"   # dies by the signal, cleaned up
    assert elapsed < 5
    assert re.search(rf"signal.*\b({int(sig)}|{sig.name}|{sig.name[3:]})\b", stderr, re.I), \
        f"no stop reason naming the signal:\n{stderr}"
    assert b"ok serial" not in rd.buf
