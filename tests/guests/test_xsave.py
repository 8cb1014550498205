# SPDX-License-Identifier: Apache-2.0
"""XSAVE/XRSTOR in guest ring 0 (tests/guests/xsave.c): a kernel's context switch of the
AVX and AVX-512 registers that ring 3 uses.

On PVM hosts ring 3 runs natively under the host's XCR0, so guest user space always has AVX
(and AVX-512 where the CPU has it) whatever the guest kernel enabled; a guest kernel must save
and restore that state with XSAVE, which PVM cannot run in ring 0 and petrel emulates
(src/arch/x86/emulate_xsave.c). Without it, processes in a Linux guest corrupt each other's
vector registers (glibc's string functions use them).
"""
import re
from pathlib import Path

import pytest

from guestlib import assert_passed, run_guest

PVM_HOST = Path("/sys/module/kvm_pvm").exists()


@pytest.mark.parametrize("kind", ["elf", "bzimage"])
def test_xsave_xrstor_switch_ring3_vector_registers(kind):
    res = run_guest("xsave", kind=kind, extra=["--stats"])
    assert_passed(res, "xsave")
    m = re.search(r"^xsave xcr0=0x([0-9a-f]+) avx512=(\d)$", res.stdout, re.M)
    assert m and int(m.group(1), 16) & 7 == 7, res.describe()
    # the page faults the emulated instructions raise: error code and CR2 as the CPU's
    assert "xsave pf=xsave count=1 err=3 cr2=1000000" in res.stdout, res.describe()
    assert "xsave pf=xrstor count=1 err=0 cr2=1000200" in res.stdout, res.describe()
    if PVM_HOST:  # the host refused them and petrel ran them
        for insn in ("xsave", "xrstor"):
            assert re.search(rf"emulated {insn}\s+[1-9]", res.stdout + res.stderr), res.describe()


@pytest.mark.needs_kvm   # PVM hosts only, known everywhere
@pytest.mark.skipif(not PVM_HOST, reason="only PVM hosts refuse XSAVE in guest ring 0")
def test_without_petrel_xsave_stops_the_vm():
    res = run_guest("xsave", extra=["--pvm", "off"])
    assert res.returncode != 0, res.describe()
