# SPDX-License-Identifier: Apache-2.0
"""Issue 53's "Hostile input" proof on the UEFI machine's variables flash: the flashevil guest
(tests/guests/flashevil.c), booted by Debian's OVMF and GRUB's EFI image from a
scripts/mkimage.sh grub-efi-disk, owns the CFI flash after ExitBootServices and drives it with
wrong command sequences (unknown commands, programs and confirms without a setup, write-to-buffer
with absurd counts and data outside its window), reads in every mode, writes and erases below
the flash, in OVMF's code and across the flash's end, storms of refused and real erases; then it
programs a pattern into the vars region's last block and reads it back.

petrel (its sanitizer build when there is one) must neither crash nor hang, say on stderr what
it refused (rate-limited), leave OVMF's code file alone and the vars file, outside the block the
guest legitimately wrote, byte for byte as OVMF left it when the guest started (the test copies
it then: the guest waits for a key on its console); a second boot with that vars file (OVMF ->
GRUB -> the `boot` guest) still succeeds. OVMF does not start on a PVM host: this runs under
scripts/nested-kvm.sh or on hardware KVM and skips on PVM hosts."""
import hashlib
import os
import pathlib
import re

import pytest

import fwlib
import guestlib
from test_ovmf import BOOT_ORDER, boots_ovmf
from test_ovmf_refusals import efi_disk, missing

pytestmark = [pytest.mark.needs_kvm,
              pytest.mark.skipif(bool(missing()), reason=f"missing {', '.join(missing())} (scripts/setup.sh)"),
              boots_ovmf]

BOOT_LIMIT = fwlib.OVMF_BOOT_LIMIT
ATTACK_LIMIT = 600.0   # s for the guest's cases (thousands of exits, each slow under nested KVM)
STORM = 2000
BLOCK = 4096


def pattern(n):
    """flashevil.c's pat(): what the guest programs into the region's last block."""
    return bytes(((i * 7 + 0x3b) ^ (i >> 8)) & 0xff for i in range(n))


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_flashevil_hostile_guest_on_the_vars_flash(workdir):
    kernel = guestlib.require("flashevil", "bzimage")
    image = workdir / "flashevil.img"
    fwlib.mkimage("grub-efi-disk", image, kernel, "", f"flashevil storm={STORM}")
    vars_path = fwlib.ovmf_vars(workdir / "vm.vars")
    code_before = sha256(fwlib.OVMF_CODE)
    argv = fwlib.petrel_argv([f"{image},ro,boot=0"], firmware="ovmf", vars=vars_path,
                             petrel=guestlib.petrel_for_hostile())
    logs = pathlib.Path(os.environ.get("PETREL_FW_LOG_DIR", workdir))   # somewhere to watch a slow boot from
    vm = fwlib.Logged(argv, logs / "flashevil-console.log", logs / "flashevil-stderr.log",
                      env=dict(os.environ, **guestlib.HOSTILE_ENV))
    try:
        assert vm.wait_for("flashevil: ready", BOOT_LIMIT), f"the guest did not start\n{vm.describe()}"
        # OVMF is done with the flash (the guest runs after ExitBootServices): what it left
        baseline = vars_path.read_bytes()
        vm.send(b"\r")
        rc = vm.wait(ATTACK_LIMIT)
    finally:
        vm.kill()
    what = vm.describe()
    assert rc is not None, f"petrel still running {ATTACK_LIMIT} s after the key\n{what}"
    assert rc >= 0, f"petrel was killed by signal {-rc}\n{what}"
    out, err = vm.out(), vm.err()
    assert rc == 0 and re.search(r"^ok flashevil$", out, re.M), what
    guestlib.assert_sanitizer_clean(err)
    m = re.search(r"^flashevil cases=(\d+)$", out, re.M)
    assert m and int(m.group(1)) >= 9, what
    # the refusals, on stderr and rate-limited: the guest makes more than STORM of them, a few
    # lines per 10 s say so
    refused = re.findall(r"vars flash: the guest's write of 0x[0-9a-f]{2} at offset 0x[0-9a-f]+ refused", err)
    assert refused and len(refused) < STORM // 2, what
    assert re.search(r"\(a wrong command sequence; command 0x[0-9a-f]{2}, cycle \d\): nothing written", err), what

    assert sha256(fwlib.OVMF_CODE) == code_before
    final = vars_path.read_bytes()
    size = len(baseline)
    assert len(final) == size
    legit = size - BLOCK
    changed = [i for i in range(0, legit, BLOCK) if final[i:i + BLOCK] != baseline[i:i + BLOCK]]
    assert not changed, f"refused writes changed the vars file in the blocks at {[hex(c) for c in changed]}"
    assert final[legit:] == pattern(BLOCK), "the guest's legitimate write is not in the file"

    # OVMF boots on with the file the guest had: GRUB -> the boot guest
    disk = efi_disk(workdir)
    b = fwlib.run_timed(fwlib.petrel_argv([f"{disk},ro,boot=0"], firmware="ovmf", vars=vars_path),
                        [fwlib.GRUB_MARKER, "ok boot"], timeout=BOOT_LIMIT)
    print(f"second boot: {b}")
    assert b.rc == 0 and "ok boot" in b.out, b.out[-3000:]
    assert BOOT_ORDER in vars_path.read_bytes()
