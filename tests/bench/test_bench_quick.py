# SPDX-License-Identifier: Apache-2.0
"""Every bench in bench/ in its quick mode (bench/benchlib.py: BENCH_QUICK=1, one small run,
seconds): a bench that stops working (a log line it parses changed, a helper it runs was
renamed, an API answer it expects moved) fails here, not on the day someone wants its figures.
Nothing is asserted on the figures; a bench must exit 0 and print its rows. The benches that
need a VM skip without /dev/kvm, as the guest tests do; those needing root skip without it."""
import os
import pathlib
import subprocess
import sys

import pytest

import petrel_test

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))
ROOT_USER = os.geteuid() == 0

# (command, needs /dev/kvm, needs root, a line its output must have, timeout s)
# The benches that boot the real Linux guest again (minutes per boot where guest ring 0 is
# emulated) run with the other extra boots (PETREL_LINUX_EXTRA=1, scripts/linux-extra.sh), so
# the default run keeps its one Linux boot.
LINUX_BOOTS = {"startup_boot.py", "virtiofs.py"}
PY = [
    (["blk_host.py"], False, False, "rand4k", 120),
    (["virtio_net_host.py"], False, False, "host->guest", 180),
    (["decompress.py"], False, False, "lz4 (as shipped)", 180),
    (["deploy.py"], False, False, "create-overlay", 120),
    (["jailer.py"], False, True, "jailer -> API answers", 120),
    (["qcow2.py"], False, False, "4K rand read", 180),
    (["seccomp.py", "startup"], False, False, "interleaved runs", 120),
    (["seccomp.py", "exits"], True, False, "ns/exit", 300),
    (["run.py"], True, False, "virtio-blk", 600),
    (["run.py", "net"], True, True, "petrel guest->host", 900),
    (["startup_boot.py"], True, False, "user space up after", 1800),  # a Linux boot: extra
    (["snapshot.py"], True, False, "touch: restored with Uffd", 900),
    (["migration.py", "idle", "dirty", "postcopy", "wire", "disk"], True, False, "wire:", 900),
    (["replication.py"], True, False, "failover after", 900),
    (["tls.py", "stream"], False, False, "tls handshake", 180),
    (["cluster.py"], False, True, "host kill -> fenced", 600),
    (["vcpu_hotplug.py"], True, False, "petrel (request -> vCPU ready)", 300),
    (["virtiofs.py"], True, True, "virtio-blk read", 1800),  # a Linux boot: extra
    (["initrd.py", "--quick"], False, False, "Host-side initrd decompression", 300),
    (["e1000.py", "--quick"], True, True, "E1000 vs virtio-net", 900),
    (["serial.py", "host"], False, False, "vCPU-side CPU per byte", 180),
    (["serial.py", "guest"], True, False, "per console byte", 300),
]
# The C benches: their smallest arguments are their quick mode.
C = [
    (["balloon_host", "32", "16"], "RSS"),
    (["balloon_hint_host", "32", "16"], "RSS"),
    (["cpu_hotplug_host", "8", "11"], "scan"),
    (["pmem_host", "{tmp}", "1"], "MiB dirty"),
    (["rate_limit_host", "0.1", "{tmp}"], "| blk"),
    (["virtio_mem_host", "1", "256"], "PLUG"),
    (["crc32_host", "16", "1"], "8 KiB state"),
    (["virtio_blk_host", "--compare", "1", "{img}", "randread", "4096", "4", "64"], "compare mode=randread"),
]
ASAN_BUILD = pathlib.Path(os.environ.get("PETREL_ASAN_BUILD", ROOT / "build-asan"))


def need(kvm, root):
    if kvm:
        petrel_test.require_kvm()
    if root and not ROOT_USER:
        pytest.skip("needs root")


@pytest.mark.parametrize("argv,kvm,root,line,timeout", PY, ids=[" ".join(p[0]) for p in PY])
def test_python_bench_quick(argv, kvm, root, line, timeout):
    need(kvm, root)
    if argv[0] in LINUX_BOOTS and os.environ.get("PETREL_LINUX_EXTRA") != "1":
        pytest.skip("boots Linux again: run with PETREL_LINUX_EXTRA=1 (scripts/linux-extra.sh)")
    if argv[0] == "decompress.py" and not (ROOT / "guest" / "vmlinuz").exists():
        pytest.skip("guest/vmlinuz is not there (scripts/fetch-guest.sh)")
    if argv[0] == "initrd.py" and not (ROOT / "guest" / "initramfs.cpio").exists():
        pytest.skip("guest/initramfs.cpio is not there (scripts/mkinitramfs.sh)")
    env = dict(os.environ, BENCH_QUICK="1", PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / argv[0]), *argv[1:]], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=timeout)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"bench/{' '.join(argv)} failed ({r.returncode}):\n{out[-3000:]}"
    assert line in r.stdout, f"bench/{' '.join(argv)}: no {line!r} in its output:\n{out[-3000:]}"


def run_c_bench(build, argv, tmp_path, env=None):
    exe = build / "bench" / argv[0]
    assert exe.exists(), f"{exe} is not built (ninja -C {build})"
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    args = [a.replace("{tmp}", str(tmp_path)).replace("{img}", str(img)) for a in argv[1:]]
    return exe, subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("argv,line", C, ids=[c[0][0] for c in C])
def test_c_bench_quick(argv, line, tmp_path):
    exe, r = run_c_bench(BUILD, argv, tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"{exe.name} failed ({r.returncode}):\n{out[-3000:]}"
    assert line in r.stdout, f"{exe.name}: no {line!r} in its output:\n{out[-3000:]}"


@pytest.mark.parametrize("argv,line", C, ids=[c[0][0] for c in C])
def test_c_bench_sanitized(argv, line, tmp_path):
    """The same in the sanitizer build (build-asan, as the unit tests): a bench that leaks or
    reads out of bounds fails here (virtio_blk_host left its three arrays of figures)."""
    if not (ASAN_BUILD / "bench" / argv[0]).exists():
        pytest.skip(f"no sanitizer build of {argv[0]} in {ASAN_BUILD}")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    exe, r = run_c_bench(ASAN_BUILD, argv, tmp_path, env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"{exe} failed ({r.returncode}):\n{out[-3000:]}"
    assert "Sanitizer" not in r.stderr, f"{exe}: a sanitizer report:\n{r.stderr[-3000:]}"
