# SPDX-License-Identifier: Apache-2.0
"""virtio-pmem driven without Linux by tests/guests/virtio_pmem.c (docs/pmem.md), over PCI and
MMIO, read-write and read-only, with `petrel run --pmem`: the guest finds the range in the
configuration space (128 MiB-aligned above 4 GiB, the file padded to 2 MiB), reads the host's
bytes through its own mapping, stores into it (read-write: the store is in the file afterwards;
read-only: it is dropped), and sends flushes (status 0), an unknown request (status 1) and one
without a writable status (returned with nothing written) from ring 3; the device keeps serving.
Needs /dev/kvm (skips without it)."""
import subprocess

import pytest

from guestlib import petrel_bin, require

SIZE = (3 << 20) + 100  # not a multiple of 2 MiB: the padding is checked too


def make_file(path):
    data = bytearray((i * 7) & 0xff for i in range(SIZE))
    data[0:11] = b"petrel-pmem"
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("transport", ["pci", "mmio"])
@pytest.mark.parametrize("ro", [False, True])
def test_pmem_guest(tmp_path, transport, ro):
    guest = require("virtio_pmem")
    img = tmp_path / "pmem.img"
    make_file(img)
    spec = f"{img},transport={transport}" + (",ro" if ro else "")
    p = subprocess.run([str(petrel_bin()), "run", "--kernel", str(guest), "--mem", "64", "--debug-exit",
                        "--cmdline", f"transport={transport} size={SIZE} ro={int(ro)}", "--pmem", spec],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "ok virtio_pmem" in p.stdout, p.stdout + p.stderr
    assert f"size={4 << 20} flush=0 bad=1 nostatus=0" in p.stdout, p.stdout
    data = img.read_bytes()
    assert len(data) == SIZE
    assert data[4096:4098] == (bytes([(4096 * 7) & 0xff, (4097 * 7) & 0xff]) if ro else b"GW")


def test_pmem_absent(tmp_path):
    p = subprocess.run([str(petrel_bin()), "run", "--kernel", str(require("virtio_pmem")), "--mem", "64",
                        "--debug-exit"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "no virtio-pmem device" in p.stdout, p.stdout + p.stderr


def test_pmem_cli_refuses_bad_files(tmp_path):
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    p = subprocess.run([str(petrel_bin()), "run", "--kernel", "/nonexistent", "--pmem", f"{empty},bogus"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "unknown item 'bogus'" in p.stderr, p.stderr
