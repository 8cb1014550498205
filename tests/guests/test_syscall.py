# SPDX-License-Identifier: Apache-2.0
"""SYSCALL/SYSRET between ring 3 and a supervisor-only kernel entry (tests/guests/syscall.c).

On PVM hosts a SYSCALL from guest ring 3 lands on LSTAR still in ring 3; petrel's SYSCALL
shim (src/arch/x86/pvm_syscall.c) must make it a ring-0 entry, or no Linux user space runs.
syscallprobe.c shows the raw host behaviour the shim exists for.
"""
import re
from pathlib import Path

import pytest

from guestlib import assert_passed, run_guest

PVM_HOST = Path("/sys/module/kvm_pvm").exists()


@pytest.mark.parametrize("kind", ["elf", "bzimage"])
def test_syscall_enters_ring0_and_returns(kind):
    res = run_guest("syscall", kind=kind)
    assert_passed(res, "syscall")
    assert re.search(r"^syscall ok 1001$", res.stdout, re.M), res.describe()


@pytest.mark.needs_kvm   # PVM hosts only, known everywhere
@pytest.mark.skipif(not PVM_HOST, reason="the shim only exists for PVM hosts")
def test_without_the_shim_syscall_never_reaches_ring0():
    res = run_guest("syscall", extra=["--pvm", "off"])
    assert res.returncode != 0, res.describe()
    assert "the entry ran 0 times" in res.stdout, res.describe()


@pytest.mark.needs_kvm   # PVM hosts only, known everywhere
@pytest.mark.skipif(not PVM_HOST, reason="describes the PVM host's own SYSCALL behaviour")
def test_pvm_host_delivers_syscall_to_lstar_in_ring3():
    res = run_guest("syscallprobe")
    assert_passed(res, "syscallprobe")
    m = re.search(r"rcx=([0-9a-f]+) \(expected ([0-9a-f]+)\) r11=([0-9a-f]+) cs=([0-9a-f]+)", res.stdout)
    assert m, res.describe()
    assert m.group(1) == m.group(2), "RCX should hold the return address"
    if int(m.group(4), 16) & 3 != 3:
        pytest.skip("this host now enters ring 0 on SYSCALL itself: petrel's shim stays dormant")
