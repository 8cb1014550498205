# SPDX-License-Identifier: Apache-2.0
"""The CPUID table petrel hands KVM (recorded by an LD_PRELOAD shim) and what the guest sees
through it: the baseline, the named template T2, custom templates (--cpu-config, a config
file's cpu-config, after a named template) and CX16 on PVM hosts. See cpuidlib for why both
views are checked."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cpuidlib import PVM_HOST, REGS, Cpuid, bit, host_has, run_cpuid
from guestlib import require


# ---- what the named template T2 hides (mirrors src/config/cpu_template.c) ----
# key: (leaf, subleaf or None for "every subleaf", register) -> mask of hidden bits
T2_HIDES = {
    # never portable: VMX/SMX, SGX, MPX, PT, RDT, WAITPKG, TME, KL, ENQCMD, SGX_LC, PKS, UINTR, ...
    (0x1, None, "ecx"): bit(5) | bit(6),
    (0x7, 0, "ebx"): (bit(2) | bit(14) | bit(25) | bit(12) | bit(15)          # host only
                      | bit(4) | bit(11)                                      # TSX: HLE, RTM
                      | bit(18) | bit(19) | bit(20)                           # RDSEED, ADX, SMAP
                      | bit(23) | bit(24)                                     # CLFLUSHOPT, CLWB
                      | bit(16) | bit(17) | bit(28) | bit(30) | bit(31)       # AVX-512 F/DQ/CD/BW/VL
                      | bit(21) | bit(26) | bit(27) | bit(29)),              # IFMA, PF, ER, SHA
    (0x7, 0, "ecx"): (bit(5) | bit(13) | bit(23) | bit(29) | bit(30) | bit(31)
                      | bit(3) | bit(4)                                       # PKU, OSPKE
                      | bit(11)                                               # AVX512_VNNI
                      | bit(0) | bit(1) | bit(6) | bit(7) | bit(8) | bit(9) | bit(10) | bit(12)
                      | bit(14) | bit(16) | bit(22) | bit(25) | bit(27) | bit(28)),
    (0x7, 0, "edx"): (bit(5) | bit(18) | bit(19)                              # UINTR, PCONFIG, ARCH_LBR
                      | bit(16)                                               # TSXLDTRK
                      | bit(2) | bit(3) | bit(4) | bit(8) | bit(14) | bit(20) | bit(22) | bit(23)
                      | bit(24) | bit(25)),
    (0x7, 1, "eax"): bit(4) | bit(5) | bit(10) | bit(11) | bit(12) | bit(22) | bit(23) | bit(26),
    (0xd, 0, "eax"): bit(3) | bit(4) | bit(9) | bit(5) | bit(6) | bit(7) | bit(17) | bit(18),
    (0xd, 1, "eax"): bit(1) | bit(2) | bit(3) | bit(4),
    (0x80000001, None, "ecx"): bit(2) | bit(10) | bit(12) | bit(13) | bit(15) | bit(8),
    (0x80000008, None, "ebx"): bit(9),
}


def t2_mask(leaf, sub, reg):
    m = 0
    for (l, s, r), v in T2_HIDES.items():
        if l == leaf and r == reg and (s is None or s == sub):
            m |= v
    return m


# ---- the LD_PRELOAD shim that records petrel's CPUID ioctls ----
SHIM_SRC = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/kvm.h>

static int nset;

static void dump(const char *what, int n, const struct kvm_cpuid2 *c)
{
	const char *path = getenv("PETREL_CPUID_DUMP");
	if (!path)
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	for (unsigned i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		dprintf(fd, "%s %d %x %x %x %x %x %x %x\n", what, n, e->function, e->index, e->flags,
			e->eax, e->ebx, e->ecx, e->edx);
	}
	dprintf(fd, "end %s %d %u\n", what, n, c->nent);
	close(fd);
}

int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, void *);
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = (int (*)(int, unsigned long, void *))dlsym(RTLD_NEXT, "ioctl");
	int r = real(fd, req, arg);
	if (r == 0 && req == KVM_GET_SUPPORTED_CPUID)
		dump("get", 0, arg);
	else if (r == 0 && req == KVM_SET_CPUID2)
		dump("set", __atomic_fetch_add(&nset, 1, __ATOMIC_SEQ_CST), arg);
	return r;
}
"""


@pytest.fixture(scope="session")
def shim(tmp_path_factory):
    gcc = shutil.which("gcc") or shutil.which("cc")
    if not gcc:
        pytest.skip("no C compiler to build the CPUID recording shim")
    d = tmp_path_factory.mktemp("cpuid-shim")
    src, so = d / "shim.c", d / "shim.so"
    src.write_text(SHIM_SRC)
    res = subprocess.run([gcc, "-shared", "-fPIC", "-O1", "-o", str(so), str(src), "-ldl"],
                         capture_output=True, text=True)
    assert res.returncode == 0, f"cannot build the shim:\n{res.stderr}"
    return so


def write_json(tmp_path, name, obj) -> Path:
    p = Path(tmp_path) / name
    p.write_text(json.dumps(obj, indent=1))
    return p


def bitmap(n, value):
    """A 32-character Firecracker bitmap forcing bit n to value, keeping the rest."""
    s = ["x"] * 32
    s[31 - n] = "1" if value else "0"
    return "0b" + "".join(s)


def modifier(leaf, sub, reg, n, value):
    return {"leaf": hex(leaf), "subleaf": hex(sub), "flags": 1 if leaf in (4, 7, 0xb, 0xd, 0x1f) else 0,
            "modifiers": [{"register": reg, "bitmap": bitmap(n, value)}]}


# ---- what petrel gives KVM (host-independent) ----

def test_petrel_cpuid_table(shim, tmp_path):
    r = run_cpuid(cpus=3, shim=shim, tmp_path=tmp_path)
    t = r.table
    for i, v in enumerate(t.vcpus):
        assert v[(1, 0)][2] & bit(31), f"vCPU {i}: hypervisor bit not set in the table"
        assert v[(1, 0)][1] >> 24 == i, f"vCPU {i}: table APIC ID {v[(1, 0)][1] >> 24}"
        assert v[(0x40000000, 0)][0] >= 0x40000001
        assert set(v) == set(t.vcpus[0]), f"vCPU {i}: different leaves than vCPU 0"
        # apart from topology every vCPU gets the same CPUID
        for key in v:
            if key[0] not in (1, 4, 0xb, 0x1f, 0x80000008):
                assert v[key] == t.vcpus[0][key], f"vCPU {i} leaf {key[0]:#x}.{key[1]} differs from vCPU 0"
        if (0xb, 0) in t.supported:
            assert (0xb, 1) in v, f"vCPU {i}: no CPUID 0xB subleaf 1 (core level) in the table"


# Leaf 0xD describes the XSAVE area of the components it offers: when a template hides some, the
# sizes must follow (SDM vol. 1, 13.2). 0xD.0 ECX is the size for every user component offered,
# a hidden component's subleaf reads 0, and supervisor components (0xD.1 ECX/EDX) need XSAVES.
XSAVE_LEGACY_AND_HEADER = 576
XSAVE_SIZED = {(0xd, 0, "ecx"), (0xd, 1, "ecx"), (0xd, 1, "edx")}


def xsave_consistent(table):
    """table {(leaf, sub): [eax, ebx, ecx, edx]} with leaf 0xD made consistent, as above."""
    d0, d1 = table.get((0xd, 0)), table.get((0xd, 1))
    if not d0:
        return table
    if d1 and not d1[0] & bit(3):   # 0xD.1 EAX bit 3: XSAVES
        d1[2] = d1[3] = 0
    user = d0[3] << 32 | d0[0]
    offered = user | ((d1[3] << 32 | d1[2]) if d1 else 0)
    size, dropped = XSAVE_LEGACY_AND_HEADER, False
    for (leaf, sub), regs in table.items():
        if leaf != 0xd or not 2 <= sub <= 63:
            continue
        if not offered & (1 << sub):
            dropped |= any(regs)
            regs[:] = [0, 0, 0, 0]
        elif user & (1 << sub) and not regs[2] & 1:   # ECX bit 0: a supervisor component
            size = max(size, regs[0] + regs[1])
    if dropped:
        d0[2] = size
    return table


def test_t2_table_is_baseline_minus_t2(shim, tmp_path):
    base = run_cpuid(cpus=1, shim=shim, tmp_path=tmp_path).table.vcpus[0]
    t2 = run_cpuid(cpus=1, extra=["--cpu-template", "T2"], shim=shim, tmp_path=tmp_path).table.vcpus[0]
    assert set(base) == set(t2)
    hidden_any = 0
    masked = {(leaf, sub): [regs[i] & ~t2_mask(leaf, sub, reg) for i, reg in enumerate(REGS)]
              for (leaf, sub), regs in base.items()}
    expected = xsave_consistent(masked)
    for (leaf, sub), regs in base.items():
        for i, reg in enumerate(REGS):
            want = expected[(leaf, sub)][i]
            hidden_any |= regs[i] & t2_mask(leaf, sub, reg)
            assert t2[(leaf, sub)][i] == want, \
                f"T2: leaf {leaf:#x}.{sub} {reg} = {t2[(leaf, sub)][i]:#010x}, expected {want:#010x} " \
                f"(baseline {regs[i]:#010x}, T2 hides {t2_mask(leaf, sub, reg):#010x})"
    if not hidden_any:
        pytest.skip("KVM offers none of the features T2 hides on this host")


# ---- what the guest sees with CPU templates ----

_honored = {}


def honored_bits(bits, shim, tmp_path, extra=()):
    """Which of bits (leaf, sub, reg, n) the guest stops seeing when petrel clears them.

    One run with a custom template clearing all of them: petrel must clear
    them in the table (asserted); whether the guest then loses them is the
    host's part (a PVM host takes leaf 7 from the host CPU, whatever the table
    says).  Cached per host for the session.
    """
    todo = [b for b in bits if (tuple(extra), b) not in _honored]
    if todo:
        mods = [modifier(leaf, sub, reg, n, 0) for leaf, sub, reg, n in todo]
        cfg = write_json(tmp_path, "probe.json", {"cpuid_modifiers": mods})
        r = run_cpuid(cpus=1, extra=list(extra) + ["--cpu-config", str(cfg)], shim=shim, tmp_path=tmp_path)
        for b in todo:
            leaf, sub, reg, n = b
            assert not r.table.vcpus[0][(leaf, sub)][REGS.index(reg)] & bit(n), \
                f"custom template: leaf {leaf:#x}.{sub} {reg} bit {n} not cleared in the CPUID table"
            _honored[(tuple(extra), b)] = not r.has(leaf, sub, reg, n)
    return [b for b in bits if _honored[(tuple(extra), b)]]


def visible_t2_bits(base: Cpuid):
    """T2-hidden bits the baseline guest sees and KVM offers (so petrel controls them)."""
    out = []
    for (leaf, sub, reg) in T2_HIDES:
        sub = sub or 0
        if (leaf, sub) not in base.cpus[0]["leaves"]:
            continue
        m = t2_mask(leaf, sub, reg)
        for n in range(32):
            if m & bit(n) and base.has(leaf, sub, reg, n) and base.table.offered(leaf, sub, reg, n):
                out.append((leaf, sub, reg, n))
    return out


def describe_bits(bits):
    return ", ".join(f"{leaf:#x}.{sub}:{reg}[{n}]" for leaf, sub, reg, n in bits) or "none"


def test_t2_hides_features_in_guest(shim, tmp_path):
    base = run_cpuid(cpus=2, shim=shim, tmp_path=tmp_path)
    t2 = run_cpuid(cpus=2, extra=["--cpu-template", "T2"], shim=shim, tmp_path=tmp_path)
    # T2 hides nothing else: outside its mask the guest sees exactly what it saw (but leaf 0xD's
    # sizes, which follow what is hidden: the table test checks them)
    t2_table = t2.table.vcpus[0]
    for c in range(2):
        for (leaf, sub), regs in base.cpus[c]["leaves"].items():
            for i, reg in enumerate(REGS):
                hidden_component = leaf == 0xd and sub >= 2 and not any(t2_table.get((leaf, sub), [1]))
                if (leaf, sub, reg) in XSAVE_SIZED or hidden_component:
                    continue
                m = t2_mask(leaf, sub, reg)
                assert t2.cpus[c]["leaves"][(leaf, sub)][i] & ~m == regs[i] & ~m, \
                    f"vCPU {c} leaf {leaf:#x}.{sub} {reg}: T2 changed bits it does not hide"
    visible = visible_t2_bits(base)
    bits = honored_bits(visible, shim, tmp_path)
    if not bits:
        pytest.skip("no feature that T2 hides is visible to the guest, offered by KVM and hideable on this "
                    f"host (visible and offered: {describe_bits(visible)})")
    for c in range(2):
        for leaf, sub, reg, n in bits:
            assert not t2.has(leaf, sub, reg, n, c), \
                f"vCPU {c}: T2 did not hide leaf {leaf:#x}.{sub} {reg} bit {n}\n{t2.res.describe()}"


def test_t2_hides_avx512f(shim, tmp_path):
    if not host_has("avx512f"):
        pytest.skip("the host CPU has no AVX-512F")
    # --pvm off: on PVM hosts petrel hides AVX-512 by itself; here T2 alone must do it
    base = run_cpuid(cpus=1, extra=["--pvm", "off"], shim=shim, tmp_path=tmp_path)
    t2 = run_cpuid(cpus=1, extra=["--pvm", "off", "--cpu-template", "T2"], shim=shim, tmp_path=tmp_path)
    assert not t2.table.vcpus[0][(7, 0)][1] & bit(16), "T2 left AVX-512F in the CPUID table"
    seen = f"the guest sees it: {base.has(7, 0, 'ebx', 16)}, with T2: {t2.has(7, 0, 'ebx', 16)}"
    if not base.table.offered(7, 0, "ebx", 16):
        pytest.skip("KVM on this host does not offer AVX-512F (KVM_GET_SUPPORTED_CPUID), so what the guest "
                    f"sees of it is not petrel's to control ({seen})")
    assert base.has(7, 0, "ebx", 16), "KVM offers AVX-512F but the guest does not see it without a template"
    if not honored_bits([(7, 0, "ebx", 16)], shim, tmp_path, extra=["--pvm", "off"]):
        pytest.skip(f"this host shows the guest AVX-512F even when the CPUID table clears it ({seen})")
    assert not t2.has(7, 0, "ebx", 16), f"T2 did not hide AVX-512F\n{t2.res.describe()}"


# Candidates, in order of preference: (leaf, subleaf, register, bit, name).
CLEAR_CANDIDATES = [(1, 0, "ecx", 0, "SSE3"), (7, 0, "ebx", 9, "ERMS"), (1, 0, "ecx", 23, "POPCNT"),
                    (0x80000001, 0, "ecx", 8, "PREFETCHW"), (0x80000001, 0, "ecx", 0, "LAHF_LM"),
                    (1, 0, "ecx", 24, "TSC-deadline"), (1, 0, "ecx", 21, "x2APIC")]
SET_CANDIDATES = [(1, 0, "ecx", 2, "DTES64"), (1, 0, "ecx", 8, "TM2"), (1, 0, "ecx", 14, "xTPR"),
                  (1, 0, "ecx", 10, "CNXT-ID"), (0x80000001, 0, "ecx", 6, "SSE4A")]


def pick_clear(base: Cpuid, shim, tmp_path):
    """The first candidate the guest sees, KVM offers and this host lets petrel hide."""
    visible = [c for c in CLEAR_CANDIDATES
               if all(base.has(*c[:4], cpu) for cpu in range(len(base.cpus))) and base.table.offered(*c[:4])]
    ok = honored_bits([c[:4] for c in visible], shim, tmp_path)
    for c in visible:
        if c[:4] in ok:
            return c
    pytest.skip("no candidate feature is visible to the guest, offered by KVM and hideable on this host: "
                + ", ".join(c[4] for c in CLEAR_CANDIDATES))


def pick_set(base: Cpuid):
    for leaf, sub, reg, n, name in SET_CANDIDATES:
        if not any(base.has(leaf, sub, reg, n, c) for c in range(len(base.cpus))):
            return leaf, sub, reg, n, name
    pytest.skip("the guest already sees every candidate feature: " + ", ".join(c[4] for c in SET_CANDIDATES))


def assert_only_bit_changed(base: Cpuid, r: Cpuid, leaf, sub, reg, n, value, name):
    for c in range(len(base.cpus)):
        got = r.get(leaf, sub, reg, c)
        assert bool(got & bit(n)) == value, \
            f"vCPU {c}: {name} (leaf {leaf:#x} {reg} bit {n}) should be {'set' if value else 'clear'}\n" \
            f"{r.res.describe()}"
        assert got & ~bit(n) == base.get(leaf, sub, reg, c) & ~bit(n), \
            f"vCPU {c}: other bits of leaf {leaf:#x} {reg} changed: {base.get(leaf, sub, reg, c):#x} -> {got:#x}"
        tab = r.table.vcpus[c][(leaf, sub)][REGS.index(reg)]
        assert bool(tab & bit(n)) == value, f"vCPU {c}: {name} not {'set' if value else 'cleared'} in the table"


def test_custom_cpu_config_clears_a_feature(shim, tmp_path):
    base = run_cpuid(cpus=2, shim=shim, tmp_path=tmp_path)
    leaf, sub, reg, n, name = pick_clear(base, shim, tmp_path)
    cfg = write_json(tmp_path, "clear.json", {"cpuid_modifiers": [modifier(leaf, sub, reg, n, 0)]})
    r = run_cpuid(cpus=2, extra=["--cpu-config", str(cfg)], shim=shim, tmp_path=tmp_path)
    assert_only_bit_changed(base, r, leaf, sub, reg, n, False, name)


def test_custom_cpu_config_sets_a_feature(shim, tmp_path):
    base = run_cpuid(cpus=2, shim=shim, tmp_path=tmp_path)
    leaf, sub, reg, n, name = pick_set(base)
    cfg = write_json(tmp_path, "set.json", {"cpuid_modifiers": [modifier(leaf, sub, reg, n, 1)]})
    r = run_cpuid(cpus=2, extra=["--cpu-config", str(cfg)], shim=shim, tmp_path=tmp_path)
    assert_only_bit_changed(base, r, leaf, sub, reg, n, True, name)


def test_config_file_cpu_config_section(shim, tmp_path):
    """The same through --config: a cpu-config section in the VM definition."""
    base = run_cpuid(cpus=1, shim=shim, tmp_path=tmp_path)
    leaf, sub, reg, n, name = pick_clear(base, shim, tmp_path)
    cfg = write_json(tmp_path, "vm.json", {
        "boot-source": {"kernel_image_path": str(require("cpuid")), "boot_args": "cpus=1"},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
        "cpu-config": {"cpuid_modifiers": [modifier(leaf, sub, reg, n, 0)]},
    })
    r = run_cpuid(cpus=1, extra=["--config", str(cfg)], shim=shim, tmp_path=tmp_path)
    assert_only_bit_changed(base, r, leaf, sub, reg, n, False, name)


@pytest.mark.parametrize("how", ["cli", "config"])
def test_custom_template_applies_after_named(shim, tmp_path, how):
    """A custom template can give back a feature the named template hid."""
    base = run_cpuid(cpus=1, shim=shim, tmp_path=tmp_path)
    bits = honored_bits(visible_t2_bits(base), shim, tmp_path)
    if not bits:
        pytest.skip("no feature that T2 hides is visible, offered by KVM and hideable on this host")
    leaf, sub, reg, n = bits[0]
    back = {"cpuid_modifiers": [modifier(leaf, sub, reg, n, 1)]}
    if how == "cli":
        extra = ["--cpu-template", "T2", "--cpu-config", str(write_json(tmp_path, "back.json", back))]
    else:
        vm = write_json(tmp_path, "vm.json", {
            "boot-source": {"kernel_image_path": str(require("cpuid")), "boot_args": "cpus=1"},
            "machine-config": {"vcpu_count": 1, "mem_size_mib": 64, "cpu_template": "T2"},
            "cpu-config": back,
        })
        extra = ["--config", str(vm)]
    r = run_cpuid(cpus=1, extra=extra, shim=shim, tmp_path=tmp_path)
    assert r.has(leaf, sub, reg, n), f"leaf {leaf:#x}.{sub} {reg} bit {n}: custom template did not win over T2"
    tab = r.table.vcpus[0]
    assert tab[(leaf, sub)][REGS.index(reg)] & bit(n), "the custom template's bit is not set in the table"
    # ...while the rest of T2 still applies (in the table, and where the host lets the guest see it)
    for (l2, s2), regs in tab.items():
        for i, r2 in enumerate(REGS):
            m = t2_mask(l2, s2, r2) & ~(bit(n) if (l2, s2, r2) == (leaf, sub, reg) else 0)
            assert not regs[i] & m, f"leaf {l2:#x}.{s2} {r2}: T2 no longer hides {regs[i] & m:#x} in the table"
    for l2, s2, r2, n2 in bits[1:]:
        assert not r.has(l2, s2, r2, n2), f"leaf {l2:#x}.{s2} {r2} bit {n2}: T2 no longer hides it"


# ---- PVM hosts: CX16 ----

def test_pvm_hides_cx16(shim, tmp_path):
    default = run_cpuid(cpus=1, shim=shim, tmp_path=tmp_path)
    on = run_cpuid(cpus=1, extra=["--pvm", "on"], shim=shim, tmp_path=tmp_path)
    off = run_cpuid(cpus=1, extra=["--pvm", "off"], shim=shim, tmp_path=tmp_path)
    assert not on.has(1, 0, "ecx", 13), "--pvm on: the guest sees CX16"
    if PVM_HOST:
        assert not default.has(1, 0, "ecx", 13), "PVM host: the guest sees CX16 by default"
    if not host_has("cx16") or not off.table.offered(1, 0, "ecx", 13):
        pytest.skip("the host (or its KVM) has no CX16 to show with --pvm off")
    assert off.has(1, 0, "ecx", 13), f"--pvm off: CX16 hidden\n{off.res.describe()}"
    if not PVM_HOST:
        assert default.has(1, 0, "ecx", 13), "not a PVM host, yet CX16 is hidden by default"
