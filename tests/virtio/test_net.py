# SPDX-License-Identifier: Apache-2.0
"""virtio-net through a real tap, driven from ring 3 by tests/guests/virtio_net.c.

The test owns the host side of the tap with a packet socket: it waits for the guest's hello
and data frames (guest -> host, checked byte for byte), then sends a burst of frames larger
than the guest's receive ring (host -> guest); the guest holds its full ring for a while, so
the burst must wait in the tap's queue while petrel stops reading (backpressure) and arrive
complete and in order. Also: the JSON form, MMIO, no MRG_RXBUF, and a hostile driver.
"""
import json
import os
import re
import subprocess

import pytest

from guestlib import HOSTILE_ENV, Guest, assert_passed, assert_sanitizer_clean, petrel_bin, petrel_for_hostile, require
from nethelp import MAC, Tap, build_frame, exchange, host_size, mac_bytes, parse_frame


@pytest.fixture
def tap():
    t = Tap()
    t.open_socket()
    yield t
    t.close()

def run_net(tap, transport="pci", kind="elf", nout=32, nin=200, extra_cmdline="", net_opts="", extra=()):
    img = require("virtio_net", kind)
    cmdline = f"transport={transport} mac={MAC} out={nout} in={nin} {extra_cmdline}"
    g = Guest(img, cmdline=cmdline, mem=128, timeout=90,
              extra=["--level", "Info", *extra] +
              (["--net", f"tap={tap.name},mac={MAC},transport={transport}{net_opts}"] if not extra else []))
    try:
        exchange(tap, nout, nin)
        res = g.wait()
    finally:
        g.kill()
    assert_passed(res, "virtio_net")
    return res


def stats(res):
    m = re.search(r"virtio-net0: rx (\d+) frames \d+ bytes \((\d+) dropped, waited (\d+) times\), "
                  r"tx (\d+) frames \d+ bytes \(\d+ errors, \d+ malformed, (\d+) batch submissions\)",
                  res.stderr)
    assert m, res.describe()
    st = {k: int(v) for k, v in zip(("rx", "dropped", "waited", "tx", "submits"), m.groups())}
    # transmit batches (net_tx_batch.c): one io_uring submission writes one or more frames
    assert st["submits"] <= st["tx"], st
    return st


@pytest.mark.parametrize("kind", ["elf", "bzimage"])
def test_net_pci_both_directions(tap, kind):
    res = run_net(tap, kind=kind)
    m = re.search(r"virtio-net rx=(\d+) tx=(\d+) merged=(\d+) others=\d+ irqs=(\d+)", res.stdout)
    assert m, res.describe()
    rx, tx, merged, irqs = map(int, m.groups())
    assert rx == 200 and tx == 34
    # 1024-byte buffers: every frame longer than 1012 bytes took two (num_buffers = 2).
    assert merged == sum(1 for s in range(200) if host_size(s) + 12 > 1024), res.stdout
    assert irqs > 0
    st = stats(res)
    assert st["rx"] == 200 and st["dropped"] == 0 and st["tx"] == 34, st
    # The guest sat on a full ring: petrel must have waited for buffers, not dropped frames.
    assert st["waited"] > 0, st


def test_net_mmio(tap):
    res = run_net(tap, transport="mmio", nin=64)
    assert stats(res)["rx"] == 64


def test_net_without_mergeable_buffers(tap):
    # One 2 KiB buffer per frame (num_buffers = 1): frames are read straight into them.
    res = run_net(tap, extra_cmdline="mrg=0 bufsize=2048 rxbufs=32", nin=120)
    assert "merged=0" in res.stdout
    assert stats(res)["dropped"] == 0


def test_net_from_json_config(tap, tmp_path):
    img = require("virtio_net", "elf")
    cfg = {
        "boot-source": {"kernel_image_path": str(img), "boot_args": f"mac={MAC} out=4 in=8 hold_ms=0"},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
        "network-interfaces": [{
            "iface_id": "eth0", "host_dev_name": tap.name, "guest_mac": MAC,
            "rx_rate_limiter": {"bandwidth": {"size": 1000000, "refill_time": 100}},
        }],
    }
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(cfg))
    g = Guest(img, cmdline=None, timeout=60, extra=["--config", str(path), "--level", "Info"])
    # Guest() passes --kernel too; the file's boot_args carry the command line.
    try:
        exchange(tap, 4, 8)
        res = g.wait()
    finally:
        g.kill()
    assert_passed(res, "virtio_net")
    assert "interface 'eth0' on tap" in res.stderr


def test_net_bad_tap_is_an_error():
    # `lo` exists and is not a tap: TUNSETIFF refuses it, and the VM must not start.
    img = require("virtio_net", "elf")
    p = subprocess.run([str(petrel_bin()), "run", "--kernel", str(img), "--debug-exit", "--net", "tap=lo"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p.stderr
    assert "tap 'lo'" in p.stderr and "network interface 'net0'" in p.stderr, p.stderr
    assert "ok virtio_net" not in p.stdout


def test_net_cli_errors():
    petrel = petrel_bin()
    if not petrel.exists():
        pytest.skip("petrel not built")
    for arg, msg in [("mac=02:00:00:00:00:01", "tap="), ("tap=x,mac=zz", "MAC"), ("tap=x,bogus=1", "unknown"),
                     ("tap=averyveryverylongtapname", "15")]:
        p = subprocess.run([str(petrel), "run", "--kernel", "/nonexistent", "--net", arg],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (arg, p.stderr)
        assert msg in p.stderr, (arg, p.stderr)


@pytest.mark.parametrize("transport", ["pci", "mmio"])
def test_net_hostile_guest(tap, transport):
    img = require("virtio_net_evil", "elf")
    binary = petrel_for_hostile()
    env = dict(os.environ, **HOSTILE_ENV)
    p = subprocess.Popen([str(binary), "run", "--kernel", str(img), "--debug-exit", "--mem", "128",
                          "--cmdline", f"transport={transport} mac={MAC}",
                          "--net", f"tap={tap.name},mac={MAC},transport={transport}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env)
    try:
        # The guest ends with one good frame each way: answer its hello.
        try:
            while parse_frame(tap.recv(60))[0] != "H":
                pass
            tap.sock.send(build_frame(mac_bytes(MAC), tap.mac, "D", 7, 200))
        except (OSError, AssertionError) as e:
            p.kill()
            out, err = p.communicate()
            pytest.fail(f"no hello from the guest ({e})\n{out}\n{err}")
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0 and re.search(r"^ok virtio_net_evil$", out, re.M), f"exit {p.returncode}\n{out}\n{err}"
    assert_sanitizer_clean(err)
    cases = int(re.search(r"virtio-net-evil cases=(\d+)", out).group(1))
    assert cases >= 10, out
