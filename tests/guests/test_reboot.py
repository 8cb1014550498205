# SPDX-License-Identifier: Apache-2.0
"""A guest's reset boots the machine again (src/vm/vm_reset.c, docs/user-guide.md#guest-reboot-and-reset):
the reboot guest (tests/guests/reboot.c) counts its boots in CMOS memory and resets the
machine through the i8042, the ACPI reset register and a triple fault; each boot checks that
the kernel image was loaded again (the old boot's writes to it are gone) and, with rng=1, that
virtio-rng is as created and works. With --no-reboot the reset ends the VM, as before."""
import re

import pytest

from guestlib import assert_passed, run_guest

MODES = ["i8042", "acpi", "triple", "all"]


def boots(res):
    return [int(n) for n in re.findall(r"^reboot: boot (\d+)$", res.stdout, re.M)]


@pytest.mark.parametrize("mode", MODES)
def test_reset_boots_the_guest_again(mode):
    res = run_guest("reboot", "elf", mem=64, cpus=2, cmdline=f"mode={mode} resets=4", extra=("--level", "Info"))
    assert_passed(res, "reboot")
    assert boots(res) == [0, 1, 2, 3, 4], res.describe()
    # one log line per reset, with what the guest did and the count
    lines = re.findall(r"guest reset \(([^)]*)\).*the VM boots again \(reset (\d+)", res.stderr)
    assert [int(n) for _, n in lines] == [1, 2, 3, 4], res.describe()
    want = {"i8042": "i8042", "acpi": "ACPI reset register", "triple": "triple fault"}
    for i, (what, _) in enumerate(lines):
        m = mode if mode != "all" else MODES[i % 3]
        assert want[m] in what, res.describe()


def test_reset_of_a_bzimage_loads_it_again():
    # the bzImage form: petrel decompresses its payload again at every boot (its bss is the
    # kernel's to clear, as Linux does: bss=0)
    res = run_guest("reboot", "bzimage", mem=64, cmdline="mode=all resets=3 bss=0")
    assert_passed(res, "reboot")
    assert boots(res) == [0, 1, 2, 3], res.describe()


@pytest.mark.parametrize("transport", ["pci", "mmio"])
def test_devices_are_as_created_and_work_after_each_reset(transport):
    extra = ["--rng"] + (["--virtio-transport", "mmio"] if transport == "mmio" else [])
    res = run_guest("reboot", "elf", mem=64, cmdline=f"mode=all resets=3 rng=1 transport={transport}",
                    extra=extra)
    assert_passed(res, "reboot")
    assert boots(res) == [0, 1, 2, 3], res.describe()
    assert res.stdout.count("reboot: virtio-rng ok") == 4, res.describe()


@pytest.mark.parametrize("mode", ["i8042", "acpi", "triple"])
def test_no_reboot_ends_the_vm(mode):
    res = run_guest("reboot", "elf", mem=64, cmdline=f"mode={mode} resets=3", extra=("--no-reboot",))
    assert res.returncode == 0, res.describe()
    assert boots(res) == [0], res.describe()
    assert "still running" not in res.stdout, res.describe()
    assert re.search(r"reset|triple|shut ?down", res.stderr, re.I), res.describe()
    assert "boots again" not in res.stderr, res.describe()


def test_many_resets():
    # 50 resets in a row, every mechanism: nothing leaks or drifts from one boot to the next
    res = run_guest("reboot", "elf", mem=64, cpus=2, cmdline="mode=all resets=50", timeout=120)
    assert_passed(res, "reboot")
    assert boots(res) == list(range(51)), res.describe()
