# SPDX-License-Identifier: Apache-2.0
"""Issue 53: a worker killed during a variable write leaves a vars file OVMF accepts. OVMF's
first boot with a fresh vars file writes its boot options and BootOrder through petrel's CFI
flash, a MAP_SHARED mapping of the file (docs/firmware.md#uefi-ovmf): every byte programmed is
in the file at once, so a SIGKILL leaves the file as real flash would be after a power cut
between two writes. The test watches the file and kills petrel when it first changes and at
later changes (in the middle of the writes); each time a new petrel boots that file: OVMF
recovers (its fault-tolerant write protocol), boots GRUB's EFI image and the `boot` guest, and
BootOrder is in the file afterwards. OVMF does not start on a PVM host: this runs under
scripts/nested-kvm.sh or on hardware KVM and skips on PVM hosts."""
import time

import pytest

import fwlib
from test_ovmf import BOOT_ORDER, boots_ovmf
from test_ovmf_refusals import efi_disk, missing

pytestmark = [pytest.mark.needs_kvm,
              pytest.mark.skipif(bool(missing()), reason=f"missing {', '.join(missing())} (scripts/setup.sh)"),
              boots_ovmf]

BOOT_LIMIT = fwlib.OVMF_BOOT_LIMIT
# Kill at the Nth change of the file seen (it is read every 10 ms or so): the first, then deeper
# into the first boot's writes.
KILL_AT = (1, 6, 30)


def kill_at_change(argv, vars_path, nth, workdir):
    """Run argv (a fresh OVMF VM on vars_path) and SIGKILL it when the file was seen changing
    the nth time; returns (changes seen, bytes differing from the template when it was killed,
    whether it was killed before it ended by itself)."""
    template = vars_path.read_bytes()
    vm = fwlib.Logged(argv, workdir / f"kill{nth}.out", workdir / f"kill{nth}.err")
    seen, last, end = 0, template, time.monotonic() + BOOT_LIMIT
    try:
        while time.monotonic() < end and vm.proc.poll() is None:
            now = vars_path.read_bytes()
            if now != last:
                seen, last = seen + 1, now
                if seen == nth:
                    break
            time.sleep(0.01)
        killed = vm.proc.poll() is None
    finally:
        vm.kill()
    assert time.monotonic() < end, f"no {nth} changes of the vars file in {BOOT_LIMIT} s\n{vm.describe()}"
    data = vars_path.read_bytes()
    return seen, sum(a != b for a, b in zip(data, template)), killed, vm


@pytest.mark.parametrize("nth", KILL_AT)
def test_ovmf_accepts_vars_after_worker_killed_mid_write(workdir, nth):
    image = efi_disk(workdir)
    vars_path = fwlib.ovmf_vars(workdir / "vm.vars")
    argv = fwlib.petrel_argv([f"{image},ro,boot=0"], firmware="ovmf", vars=vars_path)
    seen, differ, killed, vm = kill_at_change(argv, vars_path, nth, workdir)
    print(f"kill at change {nth}: {seen} changes seen, {differ} bytes differ from the template, "
          f"killed={killed}, console: {vm.out()[-200:]!r}")
    assert killed and seen == nth, f"the first boot ended before the vars file changed {nth} times\n{vm.describe()}"
    assert "ok boot" not in vm.out(), vm.describe()
    assert differ > 0 and len(vars_path.read_bytes()) == len(fwlib.OVMF_VARS.read_bytes())

    b = fwlib.run_timed(argv, [fwlib.GRUB_MARKER, "ok boot"], timeout=BOOT_LIMIT)
    print(f"boot after the kill: {b}")
    assert b.rc == 0 and "ok boot" in b.out, b.out[-3000:]
    assert b.out.index(fwlib.GRUB_MARKER) < b.out.index("ok boot")
    assert BOOT_ORDER in vars_path.read_bytes()
