# SPDX-License-Identifier: Apache-2.0
"""Running the cpuid guest (tests/guests/cpuid.c) and reading what it reports, for the
test_cpuid_*.py files: CPUID as the guest sees it and as petrel hands it to KVM.

Two views are checked:

* the guest's: the cpuid guest prints every vCPU's CPUID leaves and its real
  local APIC ID (see cpuid.c for the format);
* petrel's: an LD_PRELOAD shim (test_cpuid_templates.py builds it from SHIM_SRC)
  records what KVM_GET_SUPPORTED_CPUID returned and what petrel passed to
  KVM_SET_CPUID2 for each vCPU; run_cpuid(shim=...) reads it back.

Why both: on PVM hosts the guest does not see exactly petrel's table.
Feature bits KVM does not offer (not in KVM_GET_SUPPORTED_CPUID) can leak
through from the host CPU, and some registers (leaf 7) are not taken from the
table at all, so "the guest does not see bit X" is only petrel's to deliver
for bits KVM offers.  The table checks are exact and host-independent; the
guest checks use bits KVM offers and say so when a host cannot show a thing.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from guestlib import assert_passed, require, run_guest


REGS = ("eax", "ebx", "ecx", "edx")
PVM_HOST = Path("/sys/module/kvm_pvm").exists()

LINE_RX = re.compile(r"^cpuid cpu=(\d+) leaf=0x([0-9a-f]+) sub=0x([0-9a-f]+) "
                     r"eax=0x([0-9a-f]+) ebx=0x([0-9a-f]+) ecx=0x([0-9a-f]+) edx=0x([0-9a-f]+)$", re.M)
APIC_RX = re.compile(r"^cpuid cpu=(\d+) apic=(-?\d+)$", re.M)
RING3_RX = re.compile(r"^cpuid ring3 leaf=0x([0-9a-f]+) sub=0x([0-9a-f]+) "
                      r"eax=0x([0-9a-f]+) ebx=0x([0-9a-f]+) ecx=0x([0-9a-f]+) edx=0x([0-9a-f]+)$", re.M)


def host_has(flag):
    try:
        return bool(re.search(rf"^flags\s*:.*\b{flag}\b", Path("/proc/cpuinfo").read_text(), re.M))
    except OSError:
        return False


def bit(n):
    return 1 << n


@dataclass
class Table:
    """What petrel exchanged with KVM: the supported set and one table per vCPU."""
    supported: dict = field(default_factory=dict)  # (leaf, sub) -> [eax, ebx, ecx, edx]
    vcpus: list = field(default_factory=list)       # per KVM_SET_CPUID2 call, in vCPU order

    def offered(self, leaf, sub, reg, n):
        e = self.supported.get((leaf, sub))
        return bool(e and e[REGS.index(reg)] & bit(n))


def parse_dump(path: Path) -> Table:
    t = Table()
    get, sets = {}, {}
    for line in path.read_text().splitlines():
        w = line.split()
        if w[0] == "get":
            get[(int(w[2], 16), int(w[3], 16))] = [int(x, 16) for x in w[5:9]]
        elif w[0] == "set":
            sets.setdefault(int(w[1]), {})[(int(w[2], 16), int(w[3], 16))] = [int(x, 16) for x in w[5:9]]
        elif w[0] == "end" and w[1] == "get":
            t.supported, get = get, {}  # the last complete answer counts
    t.vcpus = [sets[i] for i in sorted(sets)]
    return t


@dataclass
class Cpuid:
    """One cpuid guest run: per-vCPU leaves, ordered by local APIC ID."""
    res: object
    cpus: list      # [{"slot": n, "apic": id, "leaves": {(leaf, sub): [a, b, c, d]}}]
    ring3: dict
    table: Table = None

    def get(self, leaf, sub, reg, cpu=0):
        return self.cpus[cpu]["leaves"][(leaf, sub)][REGS.index(reg)]

    def has(self, leaf, sub, reg, n, cpu=0):
        return bool(self.get(leaf, sub, reg, cpu) & bit(n))


def parse(res, ncpus) -> Cpuid:
    by_slot = {}
    for m in APIC_RX.finditer(res.stdout):
        by_slot[int(m[1])] = {"slot": int(m[1]), "apic": int(m[2]), "leaves": {}}
    for m in LINE_RX.finditer(res.stdout):
        slot = int(m[1])
        assert slot in by_slot, f"leaf line for unknown cpu {slot}\n{res.describe()}"
        by_slot[slot]["leaves"][(int(m[2], 16), int(m[3], 16))] = [int(x, 16) for x in m.groups()[3:]]
    ring3 = {(int(m[1], 16), int(m[2], 16)): [int(x, 16) for x in m.groups()[2:]]
             for m in RING3_RX.finditer(res.stdout)}
    assert sorted(by_slot) == list(range(ncpus)), f"expected records for {ncpus} vCPUs\n{res.describe()}"
    for c in by_slot.values():
        assert (1, 0) in c["leaves"] and (0x40000000, 0) in c["leaves"], res.describe()
    # Order by the local APIC ID when every vCPU knows it, else by check-in slot.
    cpus = list(by_slot.values())
    if all(c["apic"] >= 0 for c in cpus):
        cpus.sort(key=lambda c: c["apic"])
    return Cpuid(res, cpus, ring3)


_dumps = 0


def run_cpuid(cpus=1, extra=(), kind="elf", shim=None, tmp_path=None) -> Cpuid:
    require("cpuid", kind)
    dump = None
    with pytest.MonkeyPatch.context() as mp:
        if shim is not None:
            global _dumps
            _dumps += 1
            dump = Path(tmp_path) / f"cpuid-dump-{_dumps}.txt"
            mp.setenv("LD_PRELOAD", str(shim))
            mp.setenv("PETREL_CPUID_DUMP", str(dump))
        res = run_guest("cpuid", kind, cpus=cpus, mem=64, cmdline=f"cpus={cpus}", extra=list(extra))
    assert_passed(res, "cpuid")
    assert re.search(rf"^cpuid cpus={cpus}$", res.stdout, re.M), res.describe()
    out = parse(res, cpus)
    if shim is not None:
        assert dump.exists(), f"the shim recorded nothing (LD_PRELOAD ignored?)\n{res.describe()}"
        out.table = parse_dump(dump)
        assert out.table.supported, "no KVM_GET_SUPPORTED_CPUID recorded"
        assert len(out.table.vcpus) == cpus, f"{len(out.table.vcpus)} KVM_SET_CPUID2 calls for {cpus} vCPUs"
    return out
