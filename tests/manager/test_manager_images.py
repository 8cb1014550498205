# SPDX-License-Identifier: Apache-2.0
"""petreld's image store and VMs made from an image (issue 55, docs/manager.md#images).

Without KVM: images imported by a sparse copy or moved in (qcow2 told from raw by petrel's own
header parser), listed with the VMs that use them, refused when they are no stand-alone image,
removed only while no VM's disk uses them; POST /vms/from-image makes each VM a directory with a
hard link of the image and a qcow2 overlay backed by it, a definition with its own UUID, host
name, user and keys, all or nothing for a count; undefine removes the directory; petrelctl's
verbs; the events; each VM's cloud-init seed. Under KVM: VMs made from one GRUB disk image boot as
jailed workers, two at once directly from the disk (the VMM's direct boot), one through SeaBIOS."""
import json
import os
import shutil
import subprocess

import pytest

import mgrlib
from test_manager_firmware import grub_disk, wait_log  # noqa: F401 (grub_disk: a fixture)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@petrel"


def qcow2(path, size="1G", backing=None):
    args = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        args += ["-b", str(backing), "-F", "raw"]
    subprocess.run([*args, str(path), size], check=True)
    return path


def qemu_info(path):
    return json.loads(subprocess.run(["qemu-img", "info", "--output", "json", str(path)], check=True,
                                     capture_output=True, text=True).stdout)


def sparse_raw(path, size=64 << 20, at=(1 << 20, 40 << 20)):
    with open(path, "wb") as f:
        f.truncate(size)
        for off in at:
            f.seek(off)
            f.write(b"petrel image data %d\n" % off)
    return path


@pytest.fixture
def pd(petreld):
    if not shutil.which("qemu-img"):
        pytest.skip("qemu-img (qemu-utils) not installed")
    if not shutil.which("mformat"):
        pytest.skip("mtools not installed (the cloud-init seed)")
    return petreld(jailer=False)


def test_import_copy_and_move_list_and_remove(pd):
    ev = mgrlib.Events(pd.sock)
    raw = sparse_raw(pd.root / "disk.raw")
    # A raw file with zeros written out (not a hole): the copy is sparse all the same.
    dense = pd.root / "dense.raw"
    dense.write_bytes(b"\0" * (8 << 20) + b"end")
    q = qcow2(pd.root / "base.qcow2", "2G")
    st, img = pd.api("POST", "/images", {"name": "r", "path": str(raw)})
    assert st == 201, img
    assert img["format"] == "raw" and img["virtual_size"] == 64 << 20 and img["vms"] == []
    assert img["source"] == str(raw) and img["moved"] is False and img["imported_at"] > 0
    assert (pd.images / "r.raw").read_bytes() == raw.read_bytes()
    assert (pd.images / "r.raw").stat().st_blocks * 512 <= 256 << 10, "the copy is not sparse"
    e = ev.wait("r", "image imported", key="image")
    assert e["format"] == "raw" and e["virtual_size"] == 64 << 20
    assert pd.api("POST", "/images", {"name": "d", "path": str(dense)})[0] == 201
    assert (pd.images / "d.raw").stat().st_size == dense.stat().st_size
    assert (pd.images / "d.raw").stat().st_blocks * 512 <= 64 << 10
    # moved: the same file, renamed into the store, readable by the jailed workers
    ino = q.stat().st_ino
    st, img = pd.api("POST", "/images", {"name": "q", "path": str(q), "move": True})
    assert st == 201, img
    assert img["format"] == "qcow2" and img["virtual_size"] == 2 << 30 and img["moved"] is True
    assert not q.exists() and (pd.images / "q.qcow2").stat().st_ino == ino
    assert (pd.images / "q.qcow2").stat().st_mode & 0o777 == 0o644
    assert sorted(i["name"] for i in pd.api("GET", "/images")[1]) == ["d", "q", "r"]
    meta = json.loads((pd.images / "q.json").read_text())
    assert meta["format"] == "qcow2" and meta["virtual_size"] == 2 << 30
    assert pd.api("DELETE", "/images/r")[0] == 204
    ev.wait("r", "image removed", key="image")
    assert not (pd.images / "r.raw").exists() and not (pd.images / "r.json").exists()
    assert pd.api("DELETE", "/images/r")[0] == 404
    assert pd.api("DELETE", "/images/-x")[0] == 404
    assert pd.api("PUT", "/images")[0] == 405
    ev.close()


def test_bad_imports_are_refused(pd):
    raw = sparse_raw(pd.root / "disk.raw")
    backed = qcow2(pd.root / "over.qcow2", backing=raw)
    bad = pd.root / "bad.qcow2"   # the magic, then a header petrel's parser refuses
    bad.write_bytes(b"QFI\xfb\0\0\0\x03" + b"\xff" * 200)
    empty = pd.root / "empty"
    empty.write_bytes(b"")
    assert pd.api("POST", "/images", {"name": "r", "path": str(raw)})[0] == 201
    for body, status, words in [
        ({"name": "r", "path": str(raw)}, 409, "exists already"),
        ({"name": "o", "path": str(backed)}, 400, "has a backing file"),
        ({"name": "b", "path": str(bad)}, 400, "qcow2"),
        ({"name": "e", "path": str(empty)}, 400, "empty"),
        ({"name": "n", "path": str(pd.root / "missing")}, 400, "No such file"),
        ({"name": "dir", "path": str(pd.root)}, 400, "not a regular file"),
        ({"name": "rel", "path": "disk.raw"}, 400, "absolute path"),
        ({"name": "bad name", "path": str(raw)}, 400, "name"),
        ({"name": "x", "path": str(raw), "move": "yes"}, 400, "move"),
        ({"name": "x", "path": str(raw), "size": 1}, 400, "unknown field 'size'"),
        ("not json", 400, "expected"),
    ]:
        st, body = pd.api("POST", "/images", body)
        assert st == status and words in body["fault_message"], (words, body)
    assert sorted(i["name"] for i in pd.api("GET", "/images")[1]) == ["r"]
    assert sorted(p.name for p in pd.images.iterdir()) == ["r.json", "r.raw"]
    assert backed.exists() and raw.exists()


def from_image(pd, **body):
    return pd.api("POST", "/vms/from-image", {"name": "web", "image": "deb", **body}, timeout=120)


def test_a_vm_from_an_image(pd):
    qcow2(pd.root / "base.qcow2", "1G")
    assert pd.api("POST", "/images", {"name": "deb", "path": str(pd.root / "base.qcow2")})[0] == 201
    ev = mgrlib.Events(pd.sock)
    st, vms = from_image(pd, vcpus=2, memory_mib=256, disk_size_gib=4, ssh_authorized_keys=[KEY], tap="tapweb")
    assert st == 201, vms
    assert [v["name"] for v in vms] == ["web"] and vms[0]["state"] == "shut off"
    assert ev.wait("web", "defined")["image"] == "deb"
    doc = pd.api("GET", "/vms/web/definition")[1]
    vmdir = pd.jails / "images-vms" / "web"
    assert doc["boot-source"] == {"from_disk": True}
    assert doc["machine-config"] == {"vcpu_count": 2, "mem_size_mib": 256}
    assert doc["drives"] == [{"drive_id": "root", "path_on_host": str(vmdir / "root.qcow2"), "is_root_device": False,
                              "is_read_only": False, "format": "qcow2"}]
    assert doc["network-interfaces"] == [{"iface_id": "eth0", "host_dev_name": "tapweb"}]
    ci = doc["petrel"]["cloud-init"]
    assert ci["hostname"] == "web"
    assert ci["users"] == [{"name": "debian", "sudo": True, "shell": "/bin/bash", "ssh_authorized_keys": [KEY]}]
    # the disk: a hard link of the image and an overlay over it, by a relative name
    assert (vmdir / "root.base").stat().st_ino == (pd.images / "deb.qcow2").stat().st_ino
    info = qemu_info(vmdir / "root.qcow2")
    assert info["backing-filename"] == "root.base" and info["virtual-size"] == 4 << 30
    assert info["backing-filename-format"] == "qcow2"
    # its cloud-init seed, made at define as any VM's (Part B's ci_drive.c)
    assert (pd.defs / "web.cidata").is_file()
    # the image is in use: not removable; listed with its VM
    assert pd.api("GET", "/images")[1][0]["vms"] == ["web"]
    st, body = pd.api("DELETE", "/images/deb")
    assert st == 409 and "web" in body["fault_message"], body
    # a second request for the same name, and the name of the path itself
    st, body = from_image(pd)
    assert st == 409 and "exists already" in body["fault_message"], body
    st, body = pd.api("POST", "/vms", {"boot-source": {"kernel_image_path": str(mgrlib.guest("counter"))},
                                      "petrel": {"name": "from-image"}})
    assert st == 400 and "from-image" in body["fault_message"], body
    # petreld started again reads the definition back
    pd.stop()
    pd.start()
    assert pd.api("GET", "/vms/web")[0] == 200
    # undefine takes the VM's directory with it; then the image may go
    assert pd.api("DELETE", "/vms/web")[0] == 204
    assert not vmdir.exists() and not (pd.defs / "web.cidata").exists()
    assert pd.api("DELETE", "/images/deb")[0] == 204
    ev.close()


def test_a_count_of_vms_each_its_own_and_all_or_nothing(pd):
    sparse_raw(pd.root / "base.raw")
    assert pd.api("POST", "/images", {"name": "deb", "path": str(pd.root / "base.raw")})[0] == 201
    st, vms = from_image(pd, count=3, password="s3cret pass", user="admin", tap="tw%d", boot="seabios")
    assert st == 201, vms
    names = [v["name"] for v in vms]
    assert names == ["web-1", "web-2", "web-3"]
    docs = [pd.api("GET", f"/vms/{n}/definition")[1] for n in names]
    assert len({d["petrel"]["uuid"] for d in docs}) == 3
    assert [d["petrel"]["cloud-init"]["hostname"] for d in docs] == names
    assert [d["network-interfaces"][0]["host_dev_name"] for d in docs] == ["tw1", "tw2", "tw3"]
    for d in docs:
        assert d["boot-source"] == {"firmware": "seabios"} and d["drives"][0]["boot_index"] == 0
        user = d["petrel"]["cloud-init"]["users"][0]
        assert user["name"] == "admin" and user["passwd"].startswith("$y$")
        assert "ssh_authorized_keys" not in user
    # hashed by petreld: the password in clear is nowhere in its files
    for f in pd.defs.rglob("*"):
        if f.is_file():
            assert b"s3cret" not in f.read_bytes(), f
    assert b"s3cret" not in pd.log.read_bytes()
    # all or nothing: web2-2's definition cannot be written (a directory has its file's name),
    # so web2-1, made first, goes again
    (pd.defs / "web2-2.json").mkdir()
    st, body = from_image(pd, name="web2", count=3)
    assert st >= 400 and "web2-2" in body["fault_message"], body
    assert sorted(v["name"] for v in pd.api("GET", "/vms")[1]) == names
    assert not (pd.jails / "images-vms" / "web2-1").exists() and not (pd.defs / "web2-1.json").exists()
    assert not (pd.defs / "web2-1.cidata").exists()
    assert sorted(p.name for p in (pd.jails / "images-vms").iterdir()) == names


@pytest.mark.parametrize("body, status, words", [
    ({"image": "nope"}, 404, "no image named 'nope'"),
    ({"count": 0}, 400, "count: expected an integer from 1 to 100"),
    ({"count": 101}, 400, "count"),
    ({"name": "w" * 62, "count": 10}, 400, "longer than 64"),
    ({"tap": "tap0", "count": 2}, 400, "put '%d' in it"),
    ({"tap": "t0", "network": "default"}, 400, "one or the other"),
    ({"passwd": "clear"}, 400, "crypt(3) hash"),
    ({"passwd": "$6$x$y", "password": "z"}, 400, "one or the other"),
    ({"user": "Root"}, 400, "user: expected a user name"),
    ({"user": "debian"}, 400, "give it ssh_authorized_keys"),
    ({"ssh_authorized_keys": ["a\nb"]}, 400, "ssh_authorized_keys[0]"),
    ({"ssh_authorized_keys": "key"}, 400, "ssh_authorized_keys"),
    ({"boot": "pxe"}, 400, "boot: expected"),
    ({"start": 1}, 400, "start: expected true or false"),
    ({"vcpus": 0}, 400, "vcpus"),
    ({"cloud_init": []}, 400, "cloud_init: expected an object"),
    ({"cloud_init": {"hostname": "a..b"}}, 400, "petrel.cloud-init.hostname"),
    ({"network": "nonet"}, 400, "nonet"),
    ({"extra": 1}, 400, "unknown field 'extra'"),
])
def test_bad_requests_are_refused_and_leave_nothing(pd, body, status, words):
    sparse_raw(pd.root / "base.raw")
    assert pd.api("POST", "/images", {"name": "deb", "path": str(pd.root / "base.raw")})[0] == 201
    st, answer = from_image(pd, **body)
    assert st == status and words in answer["fault_message"], answer
    assert pd.api("GET", "/vms")[1] == []
    assert not any((pd.jails / "images-vms").iterdir()) if (pd.jails / "images-vms").exists() else True


def test_petrelctl_images(pd):
    base = qcow2(pd.root / "base.qcow2", "1G")
    key = pd.root / "id.pub"
    key.write_text(f"# my key\n{KEY}\n\n")
    ci = pd.root / "ci.json"
    ci.write_text(json.dumps({"user_data": "#cloud-config\nruncmd: [echo hi]\n"}))
    r = pd.ctl("image-import", "deb", str(base), check=True)
    assert "image deb imported" in r.stdout and "qcow2" in r.stdout
    r = pd.ctl("image-list", check=True)
    assert "deb" in r.stdout and "qcow2" in r.stdout
    r = pd.ctl("define-from-image", "ctl", "--image", "deb", "--cpus", "2", "--memory", "300", "--disk-size", "3",
               "--ssh-key", str(key), "--cloud-init", str(ci), "--count", "2", "--boot", "ovmf", check=True)
    assert "VM ctl-1 defined from image deb" in r.stdout and "VM ctl-2" in r.stdout
    doc = json.loads(pd.ctl("dumpdef", "ctl-2", check=True).stdout)
    assert doc["boot-source"]["firmware"] == "ovmf" and doc["machine-config"]["vcpu_count"] == 2
    assert doc["petrel"]["cloud-init"]["users"][0]["ssh_authorized_keys"] == [KEY]
    assert doc["petrel"]["cloud-init"]["user_data"].startswith("#cloud-config")
    assert qemu_info(pd.jails / "images-vms" / "ctl-2" / "root.qcow2")["virtual-size"] == 3 << 30
    assert json.loads(pd.ctl("--json", "image-list", check=True).stdout)[0]["vms"] == ["ctl-1", "ctl-2"] or \
        sorted(json.loads(pd.ctl("--json", "image-list", check=True).stdout)[0]["vms"]) == ["ctl-1", "ctl-2"]
    r = pd.ctl("image-remove", "deb")
    assert r.returncode == 1 and "undefine them first" in r.stderr
    r = pd.ctl("define-from-image", "x", "--image", "nope")
    assert r.returncode == 1 and "no image named 'nope'" in r.stderr
    assert pd.ctl("define-from-image", "x").returncode == 2
    assert pd.ctl("define-from-image", "x", "--image", "deb", "--cpus", "zero").returncode == 2
    for n in ("ctl-1", "ctl-2"):
        pd.ctl("undefine", n, check=True)
    assert "removed" in pd.ctl("image-remove", "deb", check=True).stdout
    assert pd.ctl("image-import", "gone", str(pd.root / "nothing")).returncode == 1


@pytest.mark.parametrize("boot, count, words", [
    ("disk", 2, ["boot from disk: drive", "ok boot"]),   # the VMM's direct boot (Part A)
    ("seabios", 1, ["petrel-grub: menu", "ok boot"]),    # SeaBIOS, then GRUB from the disk
])
def test_vms_from_an_image_boot(petreld, kvm, grub_disk, boot, count, words):
    """Jailed workers boot VMs made from one GRUB disk image, directly from the disk or through
    SeaBIOS: each overlay's base (the image) is linked into its jail beside it
    (jail_backing.c), and every VM runs on its own overlay."""
    p = petreld()
    disk = grub_disk(p.root / "grub.img")
    st, img = p.api("POST", "/images", {"name": "grub", "path": str(disk), "move": True})
    assert st == 201, img
    ev = mgrlib.Events(p.sock)
    st, vms = p.api("POST", "/vms/from-image", {"name": "booted", "image": "grub", "boot": boot, "count": count,
                                                "memory_mib": 256, "start": True}, timeout=300)
    assert st == 201, vms
    names = [v["name"] for v in vms]
    assert names == (["booted"] if count == 1 else [f"booted-{i + 1}" for i in range(count)])
    for v in vms:
        assert v["state"] == "running", v
        ev.wait(v["name"], "started")
        assert os.path.exists(f"/proc/{v['vmm_pid']}/root/vm/root.base"), "the base is not in the jail"
        text = wait_log(p.state / "logs" / f"{v['name']}.worker.log", words, 240)
        assert "FAIL" not in text
    assert p.api("DELETE", "/images/grub")[0] == 409
    for n in names:
        assert p.api("POST", f"/vms/{n}/destroy", timeout=60)[0] == 200
        assert p.api("DELETE", f"/vms/{n}")[0] == 204
    assert p.api("DELETE", "/images/grub")[0] == 204
    ev.close()
