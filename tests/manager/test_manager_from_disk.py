# SPDX-License-Identifier: Apache-2.0
"""petreld and VMs that boot the kernel on their disk (boot-source.from_disk, issue 55), without KVM:
such a definition is accepted in place of a kernel and shown back; one that also names a kernel,
an initrd or a firmware, or has no drive, is refused with the fields named. Under KVM: a jailed
worker boots the kernel on its disk."""
import shutil
import time

import pytest

import fwlib
import mgrlib


def from_disk_doc(name, disk, **boot):
    return {"boot-source": {"from_disk": True, **boot}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
            "drives": [{"drive_id": "root", "path_on_host": str(disk), "is_root_device": True, "is_read_only": False}],
            "petrel": {"name": name}}


def test_from_disk_definition_is_valid_and_shown_back(petreld):
    p = petreld(jailer=False)
    disk = p.root / "root.img"
    disk.write_bytes(bytes(1 << 20))
    st, vm = p.api("POST", "/vms", from_disk_doc("fd", disk, boot_args="quiet"))
    assert st == 201, vm
    doc = p.api("GET", "/vms/fd/definition")[1]
    assert doc["boot-source"] == {"from_disk": True, "boot_args": "quiet"}


@pytest.mark.parametrize("change, words", [
    (lambda d, f: d["boot-source"].update(kernel_image_path=str(f)), "from_disk and kernel_image_path exclude each other"),
    (lambda d, f: d["boot-source"].update(initrd_path=str(f)), "from_disk and initrd_path exclude each other"),
    (lambda d, f: d["boot-source"].update(firmware="seabios"), "from_disk and firmware exclude each other"),
    (lambda d, f: d["boot-source"].update(from_disk="yes"), "boot-source.from_disk: expected a boolean"),
    (lambda d, f: d.update(drives=[]), "boot-source.from_disk: the VM has no drive to boot from"),
])
def test_bad_from_disk_definitions_are_refused(petreld, change, words):
    p = petreld(jailer=False)
    disk = p.root / "root.img"
    disk.write_bytes(bytes(1 << 20))
    doc = from_disk_doc("bad", disk)
    change(doc, disk)
    st, body = p.api("POST", "/vms", doc)
    assert st == 400 and words in body["fault_message"], body
    assert not (p.defs / "bad.json").exists()


def test_a_jailed_worker_boots_the_kernel_on_its_disk(petreld, kvm):
    """Under KVM: the worker (jailed, seccomp on) reads the disk linked into its jail through its
    own block layer, with libext2fs loaded inside the jail, and boots grub.cfg's entry."""
    if not shutil.which("sfdisk") or not shutil.which("mkfs.ext2"):
        pytest.skip("missing sfdisk or mkfs.ext2")
    p = petreld()
    disk = p.root / "root.img"   # on the jail base's file system: the worker gets a hard link
    fwlib.mkimage("direct-disk", disk, "gpt-ext4", mgrlib.GUESTS / "boot.bzimage", "", "petrel-test-token=1234")
    st, vm = p.api("POST", "/vms", from_disk_doc("fdboot", disk))
    assert st == 201, vm
    r = p.ctl("start", "fdboot", timeout=120)
    assert r.returncode == 0, r.stderr + p.log.read_text()[-2000:]
    log = p.state / "logs" / "fdboot.worker.log"
    deadline = time.monotonic() + 60
    while "ok boot" not in (log.read_text(errors="replace") if log.exists() else ""):
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:] if log.exists() else "no log"
        time.sleep(0.2)
    text = log.read_text(errors="replace")
    assert "boot from disk: drive root partition 1 (ext4): /boot/kernel entry 'petrel'" in text, text[-3000:]
    assert "FAIL" not in text
    assert p.ctl("destroy", "fdboot").returncode == 0
