# SPDX-License-Identifier: Apache-2.0
"""virtio-balloon driven from ring 3 by tests/guests/virtio_balloon.c (docs/balloon.md): the
target in the configuration space, inflated pages read as zero, hostile page numbers refused
without breaking the device, the statistics buffer handed back by the polling tick, deflate.
Needs /dev/kvm (skips without it)."""
import json
import subprocess

import pytest

from guestlib import petrel_bin, require


def config(tmp_path, cmdline, balloon, mem=64):
    cfg = {
        "boot-source": {"kernel_image_path": str(require("virtio_balloon")), "boot_args": cmdline},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": mem},
        "balloon": balloon,
    }
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(cfg))
    return path


def run(path):
    return subprocess.run([str(petrel_bin()), "run", "--config", str(path), "--debug-exit"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("stats", [0, 1])
def test_balloon_guest(tmp_path, stats):
    path = config(tmp_path, f"target=8 stats={stats}",
                  {"amount_mib": 8, "deflate_on_oom": True, "stats_polling_interval_s": stats})
    p = run(path)
    assert p.returncode == 0 and "ok virtio_balloon" in p.stdout, p.stdout + p.stderr
    assert "virtio-balloon released=64" in p.stdout


def test_balloon_absent_without_section(tmp_path):
    cfg = {"boot-source": {"kernel_image_path": str(require("virtio_balloon"))},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(cfg))
    p = run(path)
    assert p.returncode == 1 and "no virtio-balloon device" in p.stdout, p.stdout + p.stderr


def test_balloon_guest_mmio(tmp_path):
    path = config(tmp_path, "transport=mmio target=0", {"amount_mib": 0, "deflate_on_oom": False})
    p = subprocess.run([str(petrel_bin()), "run", "--config", str(path), "--debug-exit",
                        "--virtio-transport", "mmio"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and "ok virtio_balloon" in p.stdout, p.stdout + p.stderr
