# SPDX-License-Identifier: Apache-2.0
"""Freestanding test guests booted by petrel (tests/guests/*.c).

Each guest reports "ok NAME" or "FAIL NAME: why" on the serial console and
ends the VM through the debug-exit port (petrel's exit status = the value).
"""
import re
import shutil
import subprocess
import time

import pytest

from guestlib import Guest, assert_passed, guest_image, require, run_guest

BOOT_KINDS = [("elf", "pvh"), ("bzimage", "bzimage")]


@pytest.mark.parametrize("kind,proto", BOOT_KINDS, ids=[k for k, _ in BOOT_KINDS])
def test_boot(kind, proto):
    res = run_guest("boot", kind, mem=128,
                    cmdline=f"console=ttyS0 petrel-test-token=1234 expect_boot={proto} expect_mem=128 "
                            "expect_rsdp=1 rsdp_scan=1")
    assert_passed(res, "boot")
    assert f"protocol={proto}" in res.stdout
    assert "ring3 ok" in res.stdout
    # petrel gives the RSDP; the scan GRUB-booted guests rely on (tests/firmware) finds the same
    assert re.search(r"^boot: rsdp=[0-9a-f]+ \(given\)", res.stdout, re.M), res.describe()


@pytest.mark.parametrize("mem", [64, 512, 4096])
def test_boot_memory_sizes(mem):
    res = run_guest("boot", "bzimage", mem=mem,
                    cmdline=f"petrel-test-token=1234 expect_boot=bzimage expect_mem={mem}")
    assert_passed(res, "boot")


def test_guest_failure_reaches_exit_status():
    # No token on the command line: the guest reports FAIL and exits with 1.
    res = run_guest("boot", "elf", mem=128, cmdline="expect_boot=pvh")
    assert res.returncode == 1, res.describe()
    assert re.search(r"^FAIL boot: cmdline lacks petrel-test-token", res.stdout, re.M), res.describe()
    # check() says which condition failed and where (tests/guests/lib/guest.h)
    assert re.search(r'^FAIL boot: .* \(boot\.c:\d+: cmdline_is\("petrel-test-token", "1234"\)\)$',
                     res.stdout, re.M), res.describe()


@pytest.mark.parametrize("kind", ["elf", "bzimage"])
def test_serial_interrupts(kind):
    img = require("serial", kind)
    g = Guest(img, mem=64, cmdline="lines=2")
    try:
        g.expect(r"^serial: thri irq ok")
        g.expect(r"^READY$")
        g.send("ping\n")
        g.expect(r"^got: ping$")
        g.send("hello petrel\r")
        g.expect(r"^got: hello petrel$")
        res = g.wait()
    finally:
        g.kill()
    assert_passed(res, "serial")
    m = re.search(r"rx irqs=(\d+)", res.stdout)
    assert m and int(m.group(1)) >= 1, res.describe()


def test_rtc_matches_host_clock():
    res = run_guest("rtc", "elf", mem=64)
    assert_passed(res, "rtc")
    m = re.search(r"^rtc epoch=(-?\d+)$", res.stdout, re.M)
    assert m, res.describe()
    now = time.time()
    assert abs(int(m.group(1)) - now) <= 120, f"guest {m.group(1)} vs host {now:.0f}\n{res.describe()}"


@pytest.mark.parametrize("mode", ["i8042", "triple"])
def test_reset(mode):
    # --no-reboot: the reset ends the VM (without it the guest boots again: test_reboot.py)
    res = run_guest("reset", "elf", mem=64, cmdline=f"mode={mode}", extra=("--no-reboot",))
    assert res.returncode == 0, res.describe()
    assert "still running" not in res.stdout, res.describe()
    assert re.search(r"reset|triple|shutdown", res.stderr, re.I), res.describe()


@pytest.mark.parametrize("cpus", [1, 2, 4, 8, 64])
def test_smp_bringup(cpus):
    res = run_guest("smp", "elf", cpus=cpus, mem=128, cmdline=f"cpus={cpus}")
    assert_passed(res, "smp")
    assert re.search(rf"^smp cpus={cpus}$", res.stdout, re.M), res.describe()


def test_smp_bzimage():
    res = run_guest("smp", "bzimage", cpus=2, mem=128, cmdline="cpus=2")
    assert_passed(res, "smp")


def test_timer_interrupts():
    res = run_guest("timer", "elf", mem=64)
    assert_passed(res, "timer")
    m = re.search(r"^timer ticks=(\d+)", res.stdout, re.M)
    assert m and int(m.group(1)) >= 20, res.describe()


def test_timer_interrupts_through_the_ioapic():
    """ISA IRQ 0 reaches IOAPIC pin 2, as the MADT's interrupt source override tells the guest
    (Linux takes its PIT ticks there when the local APIC timer is unusable)."""
    res = run_guest("timer", "elf", mem=64, cmdline="ioapic=1")
    assert_passed(res, "timer")
    m = re.search(r"^timer ticks=(\d+)", res.stdout, re.M)
    assert m and int(m.group(1)) >= 20, res.describe()


def test_traps():
    res = run_guest("traps", "elf", mem=64)
    assert_passed(res, "traps")
    assert "traps ok 8" in res.stdout


def test_code_rewritten_under_a_running_vcpu():
    # one vCPU flips an int3 over the jmp the other runs in ring 0 (Linux's text_poke_bp());
    # on PVM petrel emulates the int3 after the host gave up, when the jmp may be back
    res = run_guest("textpoke", "elf", cpus=2, mem=64, cmdline="secs=3")
    assert_passed(res, "textpoke")
    m = re.search(r"^textpoke rounds=(\d+) bp=(\d+) ap_flips=(\d+)$", res.stdout, re.M)
    assert m and int(m.group(2)) > 0 and int(m.group(3)) > 0, res.describe()


def test_unhandled_exit_is_reported():
    res = run_guest("unhandled", "elf", mem=64)
    assert res.returncode != 0, res.describe()
    m = re.search(r"rip=([0-9a-f]+)", res.stdout)
    assert m, res.describe()
    err = res.stderr.lower()
    rip = int(m.group(1), 16)
    # the RIP, in hex, with or without 0x and leading zeros
    assert re.search(rf"\b(0x)?0*{rip:x}\b", err), f"RIP {rip:#x} not named\n{res.describe()}"
    # the instruction bytes: pcmpeqb (%rax),%xmm0 = 66 0f 74 00
    assert re.search(r"66[\s,:]*(0x)?0f[\s,:]*(0x)?74", err), f"instruction bytes not shown\n{res.describe()}"
    # and why: the exit reason
    assert re.search(r"emulat|internal|unhandled|exit", err), res.describe()
    assert "ok unhandled" not in res.stdout


@pytest.mark.parametrize("ring", [0, 3])
def test_exitloop(ring):
    res = run_guest("exitloop", "elf", mem=64, cmdline=f"iters=2000 ring={ring}")
    assert_passed(res, "exitloop")
    assert re.search(r"^exitloop iters=2000 ring=%d " % ring, res.stdout, re.M), res.describe()


# Instructions that PVM's ring-0 emulator rejects (or that need state the
# guests never set up).  The unhandled guest uses one on purpose.
FORBIDDEN = re.compile(r"\b(popcnt|lzcnt|tzcnt|cmpxchg16b|xsave\w*|xrstor\w*|fxsave\w*|fxrstor\w*|"
                       r"endbr64|[lms]fence|clac|stac|fwait|wait|vzeroupper)\b|%[xyz]mm\d")


@pytest.mark.parametrize("name", ["boot", "serial", "rtc", "reset", "smp", "timer", "traps", "exitloop",
                                  "unhandled", "uartloop"])
def test_guest_code_is_emulatable(name):
    img = guest_image(name, "elf")
    if not img.exists():
        pytest.skip(f"{img} not built")
    objdump = shutil.which("objdump")
    if not objdump:
        pytest.skip("objdump not installed")
    dis = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(img)], capture_output=True, text=True,
                         check=True).stdout
    bad = [line.strip() for line in dis.splitlines() if "\t" in line and FORBIDDEN.search(line.split("\t", 1)[1])]
    if name == "unhandled":
        assert len(bad) == 1 and "pcmpeqb" in bad[0], bad
    else:
        assert not bad, "instructions PVM cannot emulate in ring 0:\n" + "\n".join(bad)
