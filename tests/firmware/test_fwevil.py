# SPDX-License-Identifier: Apache-2.0
"""Issue 52's "Hostile input" proof on the firmware machine: the fwevil guest
(tests/guests/fwevil.c), booted by Debian's SeaBIOS and GRUB from a scripts/mkimage.sh
grub-disk with 2 vCPUs, attacks fw_cfg (selectors of no item, odd accesses, DMA descriptors and
buffers outside RAM, in MMIO, across the end of RAM and of 4 GiB, huge lengths, writes,
overlaps), toggles PAM from the AP while both vCPUs execute in the BIOS area, moves the PIIX4 PM
block onto other devices' ports, writes every chipset configuration dword and into the ROM.
petrel (its sanitizer build when there is one) must neither crash nor hang, refuse what it
must and say so on stderr, and end with the guest's verdict."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import fwlib
import guestlib

pytestmark = pytest.mark.needs_kvm

TIMEOUT = 400   # seconds: the firmware boot alone is 35-90 s on a PVM host; the guest's part ~1 s
CMDLINE = "fwevil ram_mib=256 bootorder=1 pam_rounds=4 pm_toggles=128"


def missing():
    out = [t for t in ("grub-mkimage", "sfdisk", "mkfs.ext2") if not shutil.which(t)]
    if not Path("/usr/lib/grub/i386-pc/boot.img").exists():
        out.append("grub-pc-bin")
    if not fwlib.SEABIOS.exists():
        out.append(str(fwlib.SEABIOS))
    return out


def test_fwevil_hostile_guest_on_the_firmware_machine(tmp_path):
    kernel = guestlib.require("fwevil", "bzimage")
    if missing():
        pytest.skip(f"missing {', '.join(missing())} (scripts/setup.sh)")
    image = tmp_path / "fwevil.img"
    fwlib.mkimage("grub-disk", image, kernel, "", CMDLINE)
    binary = guestlib.petrel_for_hostile()
    cmd = [str(binary), "run", "--firmware", "seabios", "--disk", f"{image},boot=0", "--cpus", "2", "--mem", "256",
           "--debug-exit"]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT,
                       env=dict(os.environ, **guestlib.HOSTILE_ENV))
    out = p.stdout.decode(errors="replace").replace("\r", "")
    err = p.stderr.decode(errors="replace")
    what = f"$ {' '.join(cmd)}\nexit status {p.returncode}\n--- stdout ---\n{out[-6000:]}\n--- stderr ---\n{err[-6000:]}"
    assert p.returncode >= 0, f"petrel was killed by signal {-p.returncode}\n{what}"
    assert p.returncode == 0 and re.search(r"^ok fwevil$", out, re.M), what
    guestlib.assert_sanitizer_clean(err)
    m = re.search(r"^fwevil cases=(\d+)$", out, re.M)
    assert m and int(m.group(1)) >= 50, what
    # the refusals petrel reports (rate-limited: the first of each kind at least)
    for line in ("fw_cfg: DMA write of 4 bytes refused",
                 "fw_cfg: DMA read of 4294967295 bytes to 0x0 is not guest RAM: refused",
                 "fw_cfg: DMA read of 64 bytes to 0xfec00000 is not guest RAM: refused",
                 "fw_cfg: DMA descriptor at 0xe0000000 is not guest RAM: ignored",
                 "ACPI PM block: cannot decode at ports 0xc000-0xc00b",
                 "ACPI PM block: cannot decode at ports 0x500-0x50b"):
        assert line in err, f"petrel did not log {line!r}\n{what}"
    # the guest saw every PM-block move that lands on another device's ports refused
    for v in ("0xc001", "0xfffd", "0xffffffff", "0x501"):
        assert re.search(rf"^fwevil: PMBA {v} .*: refused, not decoding$", out, re.M), what
