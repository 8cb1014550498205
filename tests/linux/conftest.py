# SPDX-License-Identifier: Apache-2.0
"""The real-Linux tests need /dev/kvm, like every guest test (tests/guests/guestlib.require):
each is marked needs_kvm at collection (tests/conftest.py registers it, the extra boots too,
and skips it without /dev/kvm).

Real-Linux boots are the suite's budget (minutes each where guest ring 0 is emulated): the
default run boots as few times as it can and restores the rest from a snapshot. The modules in
EXTRA_BOOTS each boot Linux again for one feature; they run only with PETREL_LINUX_EXTRA=1
(scripts/linux-extra.sh), never in the default suite or CI."""
import os
from pathlib import Path

import pytest

from netpeer import NetPeer

EXTRA_BOOTS = {
    "test_linux_mmds.py": "boots Linux once more for the metadata service",
    "test_linux_pmem.py": "boots Linux once more for virtio-pmem",
    "test_linux_hotplug_vcpu.py": "boots Linux once more for vCPU hot-plug",
    "test_linux_bzimage_entry.py": "boots Linux twice more through the 64-bit entries",
    "test_linux_vmem.py": "boots Linux once more for memory hot-plug",
    "test_linux_e1000.py": "boots Debian's generic kernel for its e1000 driver",
    "test_linux_display.py": "boots Debian's generic kernel for its bochs DRM driver",
    "test_linux_virtiofs.py": "boots Linux once more for virtio-fs (such a VM cannot be snapshotted)",
    "test_linux_firmware.py": "boots Linux through SeaBIOS and GRUB, and the installed Debian disk",
    "test_linux_uefi.py": "boots the installed Debian disk twice through OVMF",
    "test_linux_diskboot.py": "boots the Debian cloud template from its disk with systemd and cloud-init",
    "test_linux_guest_agent.py": "boots the Debian cloud template once with Debian's qemu-guest-agent",
    "test_linux_kernel_update.py": "boots the Debian cloud template twice on two paths (a kernel update and a reboot)",
    "test_linux_cloudinit.py": "boots the Debian cloud template with systemd and cloud-init (three VMs through SeaBIOS, one through OVMF)",
}


HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    extra = os.environ.get("PETREL_LINUX_EXTRA") == "1"
    for item in items:
        if HERE not in item.path.resolve().parents:
            continue
        item.add_marker(pytest.mark.needs_kvm)
        why = EXTRA_BOOTS.get(item.path.name)
        if why and not extra:
            item.add_marker(pytest.mark.skip(reason=f"{why}: run with PETREL_LINUX_EXTRA=1 "
                                             "(scripts/linux-extra.sh)"))


@pytest.fixture
def netpeer():
    """The host end of the guest's virtio-net (netpeer.py); None without root or a tun device."""
    peer = NetPeer.start()
    yield peer
    if peer:
        peer.close()
