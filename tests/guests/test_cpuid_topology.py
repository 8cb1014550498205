# SPDX-License-Identifier: Apache-2.0
"""CPU topology as the guest sees it (tests/guests/cpuid.c): local APIC IDs and CPUID leaves 1,
4 and 0xB for 1 to 8 vCPUs, from an ELF and a bzImage, with and without SMT."""
import pytest

from cpuidlib import Cpuid, run_cpuid


# ---- topology ----

def check_topology(r: Cpuid, ncpus, threads):
    cores = (ncpus + threads - 1) // threads
    max_basic = r.get(0, 0, "eax")
    for i, c in enumerate(r.cpus):
        where = f"vCPU {i} (slot {c['slot']})\n{r.res.describe()}"
        if r.has(1, 0, "ecx", 21, i):  # x2APIC: the guest could read its APIC ID
            assert c["apic"] == i, f"local APIC IDs are not 0..{ncpus - 1}: {[x['apic'] for x in r.cpus]}"
        ebx1 = r.get(1, 0, "ebx", i)
        assert ebx1 >> 24 == i, f"CPUID.1:EBX APIC ID {ebx1 >> 24} != {i}: {where}"
        logical = (ebx1 >> 16) & 0xff
        assert logical >= ncpus and logical & (logical - 1) == 0, f"CPUID.1:EBX[23:16] = {logical}: {where}"
        if ncpus > 1:
            assert r.has(1, 0, "edx", 28, i), f"HTT clear with {ncpus} vCPUs: {where}"
        eax4 = r.get(4, 0, "eax", i)
        if eax4 & 0x1f and (eax4 >> 5) & 7 <= 2:  # an L1/L2 cache: shared by the threads of a core
            assert (eax4 >> 26) + 1 == cores, f"CPUID.4:EAX[31:26] = {eax4 >> 26}, {cores} cores: {where}"
            assert ((eax4 >> 14) & 0xfff) + 1 == threads, f"CPUID.4:EAX[25:14] {eax4:#x}: {where}"
        if max_basic < 0xb:
            continue
        a0, b0, c0, d0 = r.cpus[i]["leaves"][(0xb, 0)]
        a1, b1, c1, d1 = r.cpus[i]["leaves"][(0xb, 1)]
        assert d0 == i and d1 == i, f"CPUID.0xB x2APIC IDs {d0}, {d1} != {i}: {where}"
        assert (c0 >> 8) & 0xff == 1 and c0 & 0xff == 0, f"0xB.0 is not the SMT level: ecx={c0:#x}: {where}"
        assert b0 & 0xffff == threads, f"0xB.0 EBX {b0:#x}, expected {threads} threads per core: {where}"
        assert 1 << (a0 & 0x1f) == threads, f"0xB.0 EAX shift {a0 & 0x1f} for {threads} threads: {where}"
        assert (c1 >> 8) & 0xff == 2 and c1 & 0xff == 1, f"0xB.1 is not the core level: ecx={c1:#x}: {where}"
        assert b1 & 0xffff == ncpus, f"0xB.1 EBX {b1:#x}, expected {ncpus} logical processors: {where}"
        shift = a1 & 0x1f
        assert (1 << shift) >= ncpus and all(x["apic"] >> shift == 0 for x in r.cpus if x["apic"] >= 0), \
            f"0xB.1 EAX shift {shift} does not cover APIC IDs 0..{ncpus - 1}: {where}"


@pytest.mark.parametrize("cpus", [1, 2, 4, 8])
def test_apic_ids_and_topology(cpus):
    r = run_cpuid(cpus=cpus)
    ids = [c["apic"] for c in r.cpus]
    assert ids == list(range(cpus)) or not r.has(1, 0, "ecx", 21), f"local APIC IDs {ids}"
    assert sorted(r.get(1, 0, "ebx", i) >> 24 for i in range(cpus)) == list(range(cpus))
    check_topology(r, cpus, threads=1)


def test_topology_bzimage():
    r = run_cpuid(cpus=4, kind="bzimage")
    check_topology(r, 4, threads=1)


def test_smt_topology():
    r = run_cpuid(cpus=4, extra=["--smt"])
    check_topology(r, 4, threads=2)
    a0, b0 = r.get(0xb, 0, "eax"), r.get(0xb, 0, "ebx")
    assert (a0 & 0x1f, b0 & 0xffff) == (1, 2), r.res.describe()
