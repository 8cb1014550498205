# SPDX-License-Identifier: Apache-2.0
"""petreld and VMs that boot the kernel on their disk (boot-source.from_disk, issue 55), without KVM:
such a definition is accepted in place of a kernel and shown back; one that also names a kernel,
an initrd or a firmware, or has no drive, is refused with the fields named."""
import pytest


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
