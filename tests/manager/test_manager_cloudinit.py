# SPDX-License-Identifier: Apache-2.0
"""A definition's cloud-init section (petreld without guests, no /dev/kvm needed): what define
accepts and refuses, with the field named (docs/manager.md#cloud-init)."""
import email
import json
import os
import shutil
import subprocess
import time

import pytest
import yaml

import mgrlib

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB4Ca5GWm3KIJ0mY6cAtfkT7v6mRbbcaG6KcxYJjnb1A test@petrel"
HASH = "$6$rounds=4096$saltsalt$J4yGz1x0cBq7lBq2fR3Xbq7kVQZz0m2H0t5Gq0W8p1v6Ih0W9Fq3Jb6zH4u0B2mL8eQ1nS3xT5yV7aC9dE1f."
GOOD = {"hostname": "web1.example.org",
        "users": [{"name": "debian", "ssh_authorized_keys": [KEY], "passwd": HASH, "sudo": True, "shell": "/bin/bash"},
                  {"name": "ops", "sudo": "ALL=(ALL) ALL"}],
        "network_config": {"version": 2, "ethernets": {"eth0": {"dhcp4": True}}},
        "user_data": "#cloud-config\nruncmd:\n  - echo hello\n",
        "vendor_data": "#!/bin/sh\necho vendor\n"}


def test_a_whole_section_is_kept_as_given(petreld):
    p = petreld()
    st, vm = p.define("web1", petrel={"cloud-init": GOOD})
    assert st == 201, vm
    on_disk = json.loads((p.defs / "web1.json").read_text())
    assert on_disk["petrel"]["cloud-init"] == GOOD
    # an empty section is a seed with the defaults (host name: the VM's name)
    assert p.define("bare", petrel={"cloud-init": {}})[0] == 201
    # network config as a network-config file has it, under "network"
    assert p.define("wrapped", petrel={"cloud-init": {"network_config": {"network": {"version": 1, "config": []}}}})[0] == 201


@pytest.mark.parametrize("section, words", [
    ([], "petrel.cloud-init: expected an object"),
    ({"colour": "red"}, "petrel.cloud-init: unknown field 'colour'"),
    ({"hostname": 7}, "petrel.cloud-init.hostname"),
    ({"hostname": "-web"}, "petrel.cloud-init.hostname"),
    ({"hostname": "web-"}, "petrel.cloud-init.hostname"),
    ({"hostname": "a..b"}, "petrel.cloud-init.hostname"),
    ({"hostname": "we b"}, "petrel.cloud-init.hostname"),
    ({"hostname": "x" * 64}, "petrel.cloud-init.hostname"),
    ({"hostname": ".".join(["x" * 60] * 5)}, "petrel.cloud-init.hostname"),
    ({"users": {"name": "debian"}}, "petrel.cloud-init.users: expected an array"),
    ({"users": [{"name": "d"}] * 65}, "at most 64 users"),
    ({"users": ["debian"]}, "petrel.cloud-init.users[0]: expected an object"),
    ({"users": [{"name": "debian", "groups": "sudo"}]}, "petrel.cloud-init.users[0]: unknown field 'groups'"),
    ({"users": [{"ssh_authorized_keys": [KEY]}]}, "petrel.cloud-init.users[0].name"),
    ({"users": [{"name": "Debian"}]}, "petrel.cloud-init.users[0].name"),
    ({"users": [{"name": "../root"}]}, "petrel.cloud-init.users[0].name"),
    ({"users": [{"name": "x" * 33}]}, "petrel.cloud-init.users[0].name"),
    ({"users": [{"name": "a"}, {"name": "a"}]}, "petrel.cloud-init.users[1].name: 'a' is also users[0]'s"),
    ({"users": [{"name": "a", "ssh_authorized_keys": KEY}]}, "users[0].ssh_authorized_keys: expected an array"),
    ({"users": [{"name": "a", "ssh_authorized_keys": [KEY] * 65}]}, "at most 64 keys"),
    ({"users": [{"name": "a", "ssh_authorized_keys": [""]}]}, "users[0].ssh_authorized_keys[0]"),
    ({"users": [{"name": "a", "ssh_authorized_keys": [KEY + "\nssh-rsa AAAA evil"]}]}, "ssh_authorized_keys[0]: expected one line"),
    ({"users": [{"name": "a", "ssh_authorized_keys": ["ssh-rsa " + "A" * 16400]}]}, "ssh_authorized_keys[0]"),
    ({"users": [{"name": "a", "passwd": "hunter2"}]}, "users[0].passwd: expected a crypt(3) hash"),
    ({"users": [{"name": "a", "passwd": "$6$salt"}]}, "users[0].passwd"),
    ({"users": [{"name": "a", "passwd": "$6$s$h\nroot::0:0"}]}, "users[0].passwd"),
    ({"users": [{"name": "a", "sudo": "yes\nALL ALL=(ALL) NOPASSWD:ALL"}]}, "users[0].sudo"),
    ({"users": [{"name": "a", "sudo": 1}]}, "users[0].sudo"),
    ({"users": [{"name": "a", "shell": "bash"}]}, "users[0].shell: expected an absolute path"),
    ({"network_config": "version: 2"}, "petrel.cloud-init.network_config"),
    ({"network_config": {"ethernets": {}}}, "petrel.cloud-init.network_config"),
    ({"network_config": {"version": 3}}, "petrel.cloud-init.network_config"),
    ({"user_data": {"runcmd": []}}, "petrel.cloud-init.user_data: expected a string"),
    ({"user_data": "runcmd:\n - ls\n"}, "petrel.cloud-init.user_data: expected a file cloud-init knows"),
    ({"user_data": "#cloud-config\n\u0000"}, "\\u0000 is not allowed"),  # jansson refuses NUL characters
    ({"vendor_data": "echo hi"}, "petrel.cloud-init.vendor_data"),
])
def test_bad_sections_are_refused_with_the_field_named(petreld, section, words):
    p = petreld()
    st, body = p.define("x", petrel={"cloud-init": section})
    assert st == 400, body
    assert words in body["fault_message"], body
    assert not (p.defs / "x.json").exists()


def test_the_vms_name_must_be_a_host_name_when_none_is_given(petreld):
    p = petreld()
    st, body = p.define("web-", petrel={"cloud-init": {}})
    assert st == 400 and "the VM's name 'web-' is not a host name" in body["fault_message"], body
    assert p.define("web-", petrel={"cloud-init": {"hostname": "web"}})[0] == 201
    assert p.define("x" * 64, petrel={"cloud-init": {}})[0] == 400


def test_a_drive_named_like_the_seed_is_refused(petreld, tmp_path):
    p = petreld()
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    drives = [{"drive_id": "cidata", "path_on_host": str(disk), "is_root_device": False, "is_read_only": True}]
    st, body = p.define("x", petrel={"cloud-init": {}}, drives=drives)
    assert st == 400 and "drives[0]: drive_id 'cidata' is the cloud-init seed's" in body["fault_message"], body
    # without a cloud-init section the name is the user's
    assert p.define("x", drives=drives)[0] == 201


def test_a_seed_larger_than_a_mebibyte_is_refused(petreld):
    """A definition is at most 1 MiB too, but the seed writes its JSON indented: a network config
    with many entries grows past the limit in the seed while its definition is within its own."""
    p = petreld()

    def section(n):
        return {"network_config": {"version": 2, "ethernets": {"eth0": {
            "addresses": [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/8" for i in range(n)]}}}}
    big = {"petrel": {"name": "x", "cloud-init": section(50000)}}
    assert len(json.dumps(big)) < 1 << 20
    st, body = p.define("x", petrel={"cloud-init": section(50000)})
    assert st == 400 and "is larger than 1048576 bytes (1 MiB)" in body["fault_message"], body
    st, body = p.define("x", petrel={"cloud-init": section(20000)})
    assert st == 201, body


def test_petrelctl_define_shows_the_fields_error(petreld, tmp_path):
    p = petreld()
    f = tmp_path / "x.json"
    f.write_text(json.dumps({"boot-source": {"kernel_image_path": str(mgrlib.guest("counter"))},
                             "petrel": {"name": "x", "cloud-init": {"users": [{"name": "a", "passwd": "secret"}]}}}))
    r = p.ctl("define", str(f))
    assert r.returncode == 1 and "petrel.cloud-init.users[0].passwd" in r.stderr


# ---- the seed drive (cloudinit/seed.c, cidata.c, ci_drive.c), read back with mtools ----------

MTOOLS_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1")


def seed_files(path):
    """The seed image's files: {name: bytes} (mdir, mtype: mtools reads the FAT image as the
    guest's kernel would)."""
    r = subprocess.run(["mdir", "-b", "-i", str(path), "::/"], capture_output=True, text=True, env=MTOOLS_ENV)
    assert r.returncode == 0, r.stderr
    names = sorted(line.rsplit("/", 1)[-1] for line in r.stdout.split())
    out = {}
    for n in names:
        t = subprocess.run(["mtype", "-i", str(path), f"::/{n}"], capture_output=True, env=MTOOLS_ENV)
        assert t.returncode == 0, t.stderr
        out[n] = t.stdout
    return out


def cloud_config(text):
    """A #cloud-config part as cloud-init reads it: YAML (PyYAML, cloud-init's parser)."""
    assert text.startswith("#cloud-config\n"), text[:100]
    return yaml.safe_load(text)


def test_the_seed_holds_the_sections_files(petreld):
    p = petreld()
    st, vm = p.define("web1", petrel={"cloud-init": {
        "users": GOOD["users"], "network_config": GOOD["network_config"], "vendor_data": GOOD["vendor_data"]}})
    assert st == 201, vm
    seed = p.defs / "web1.cidata"
    # a FAT file system labelled cidata, as cloud-init's NoCloud (and ds-identify) look for it
    r = subprocess.run(["blkid", "-p", "-o", "export", str(seed)], capture_output=True, text=True)
    tags = dict(line.split("=", 1) for line in r.stdout.split())
    assert tags["TYPE"] == "vfat" and tags["LABEL"].lower() == "cidata", tags
    # and a sound one to dosfstools' checker (read-only: -n)
    fsck = shutil.which("fsck.vfat") or "/sbin/fsck.vfat"
    if os.path.exists(fsck):
        r = subprocess.run([fsck, "-n", str(seed)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    files = seed_files(seed)
    assert sorted(files) == ["meta-data", "network-config", "user-data", "vendor-data"]
    meta = yaml.safe_load(files["meta-data"])
    assert meta == {"instance-id": vm["uuid"], "local-hostname": "web1"}
    cfg = cloud_config(files["user-data"].decode())
    debian, ops = cfg["users"]
    assert debian == {"name": "debian", "ssh_authorized_keys": [KEY], "passwd": HASH, "lock_passwd": False,
                      "sudo": "ALL=(ALL) NOPASSWD:ALL", "shell": "/bin/bash"}
    assert ops == {"name": "ops", "sudo": "ALL=(ALL) ALL"}
    assert yaml.safe_load(files["network-config"]) == GOOD["network_config"]
    assert files["vendor-data"].decode() == GOOD["vendor_data"]


def test_users_and_user_data_are_one_multipart_message(petreld):
    p = petreld()
    mime = ("Content-Type: multipart/mixed; boundary=\"b\"\nMIME-Version: 1.0\n\n--b\n"
            "Content-Type: text/x-shellscript\n\n#!/bin/sh\necho inner\n--b--\n")
    for user_data, kind in ((GOOD["user_data"], "text/cloud-config"), ("#!/bin/sh\necho hi", "text/x-shellscript"),
                            (mime, "multipart/mixed")):
        st, vm = p.define("web1", petrel={"cloud-init": {"hostname": "web1.example.org", "users": [{"name": "debian"}],
                                                         "user_data": user_data}})
        assert st in (200, 201), vm
        files = seed_files(p.defs / "web1.cidata")
        assert sorted(files) == ["meta-data", "user-data"]
        assert yaml.safe_load(files["meta-data"])["local-hostname"] == "web1.example.org"
        msg = email.message_from_bytes(files["user-data"])
        assert msg.is_multipart() and msg.get_content_type() == "multipart/mixed"
        parts = msg.get_payload()
        assert [q.get_content_type() for q in parts] == ["text/cloud-config", kind]
        assert cloud_config(parts[0].get_payload())["users"] == [{"name": "debian"}]
        if kind == "multipart/mixed":   # the user's own message, as it was, a part of ours
            assert parts[1].get_payload()[0].get_payload() == "#!/bin/sh\necho inner"
        else:
            assert parts[1].get_payload().rstrip("\n") == user_data.rstrip("\n")
    # the user's file alone is the user-data as given; nothing at all, an empty cloud-config
    assert p.define("solo", petrel={"cloud-init": {"user_data": "#!/bin/sh\necho solo\n"}})[0] == 201
    assert seed_files(p.defs / "solo.cidata")["user-data"] == b"#!/bin/sh\necho solo\n"
    assert p.define("bare", petrel={"cloud-init": {}})[0] == 201
    assert seed_files(p.defs / "bare.cidata")["user-data"] == b"#cloud-config\n"


def test_the_seed_follows_the_definition_and_goes_with_it(petreld):
    p = petreld()
    st, vm = p.define("web1", petrel={"cloud-init": {"hostname": "one"}})
    assert st == 201
    seed = p.defs / "web1.cidata"
    assert yaml.safe_load(seed_files(seed)["meta-data"])["local-hostname"] == "one"
    # redefined: the seed is made again; its instance-id stays the VM's UUID
    st, vm2 = p.define("web1", petrel={"uuid": vm["uuid"], "cloud-init": {"hostname": "two"}})
    assert st == 200
    assert yaml.safe_load(seed_files(seed)["meta-data"]) == {"instance-id": vm["uuid"], "local-hostname": "two"}
    # the section taken out: no seed
    assert p.define("web1", petrel={"uuid": vm["uuid"]})[0] == 200
    assert not seed.exists()
    assert p.define("web1", petrel={"cloud-init": {}})[0] == 200
    assert seed.exists()
    assert p.api("DELETE", "/vms/web1")[0] == 204
    assert not seed.exists()
    assert sorted(f.name for f in p.defs.iterdir()) == []


def test_clones_get_seeds_of_their_own(petreld):
    p = petreld()
    disk = p.root / "tmpl.img"
    disk.write_bytes(bytes(1 << 20))
    st, vm = p.define("tmpl", petrel={"cloud-init": {"hostname": "template", "users": [{"name": "debian"}]}},
                      drives=[{"drive_id": "root", "path_on_host": str(disk), "is_root_device": False,
                               "is_read_only": False, "format": "raw"}])
    assert st == 201, vm
    d = p.root / "snap" / "tmpl" / "s1"   # a snapshot directory as snapshot.c leaves it (test_manager_clone.py)
    d.mkdir(parents=True)
    (d / "vm.state").write_bytes(b"not a snapshot")
    (d / "vm.mem").write_bytes(bytes(4096))
    (d / "meta.json").write_text(json.dumps({"name": "s1", "created": int(time.time()), "vm_state": "running",
                                             "definition": p.api("GET", "/vms/tmpl/definition")[1]}))
    st, clones = p.api("POST", "/vms/tmpl/clone", {"snapshot": "s1", "count": 3, "prefix": "web", "start": False})
    assert st == 200, clones
    metas = [yaml.safe_load(seed_files(p.defs / f"{c['name']}.cidata")["meta-data"]) for c in clones]
    assert metas == [{"instance-id": c["uuid"], "local-hostname": c["name"]} for c in clones]
    assert len({m["instance-id"] for m in metas} | {vm["uuid"]}) == 4
    for c in clones:   # the rest of the section as the template's
        assert cloud_config(seed_files(p.defs / f"{c['name']}.cidata")["user-data"].decode())["users"] == [{"name": "debian"}]
        assert "hostname" not in p.api("GET", f"/vms/{c['name']}/definition")[1]["petrel"]["cloud-init"]
    # clones that cannot start (the snapshot is not loadable) are undone with their seeds
    st, body = p.api("POST", "/vms/tmpl/clone", {"snapshot": "s1", "count": 2, "prefix": "bad"}, timeout=120)
    assert st == 502, body
    assert not list(p.defs.glob("bad*"))


def test_a_start_writes_the_seed_again(petreld):
    """The seed is made at every start (a definition edited by hand takes effect then); a start
    that fails later (no KVM, or a guest that is not a Linux) still made it."""
    p = petreld()
    assert p.define("web1", petrel={"cloud-init": {"hostname": "before"}})[0] == 201
    seed = p.defs / "web1.cidata"
    doc = json.loads((p.defs / "web1.json").read_text())
    doc["petrel"]["cloud-init"]["hostname"] = "after"
    (p.defs / "web1.json").write_text(json.dumps(doc))
    ino = seed.stat().st_ino
    p.api("POST", "/vms/web1/start", timeout=60)
    assert yaml.safe_load(seed_files(seed)["meta-data"])["local-hostname"] == "after"
    assert seed.stat().st_ino != ino   # a new file, renamed into place
    p.api("POST", "/vms/web1/destroy", timeout=60)


def test_mtools_missing_is_a_clear_error(tmp_path):
    """petreld runs mtools from /usr/bin (a fixed path, not the caller's PATH): without them a
    define with a section is refused with the program named. Checked by running petreld in a
    mount namespace whose /usr/bin/mformat is a file that cannot run."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1)")
    broken = tmp_path / "mformat"
    broken.write_text("")
    broken.chmod(0o644)
    p = mgrlib.Petreld(prefix=["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               f"mount --bind {broken} /usr/bin/mformat && exec \"$@\"", "sh"])
    try:
        p.start()
        st, body = p.define("web1", petrel={"cloud-init": {}})
        assert st >= 400 and "mformat" in body["fault_message"], body
        assert not (p.defs / "web1.json").exists() and not (p.defs / "web1.cidata").exists()
        assert p.define("plain")[0] == 201
    finally:
        p.close()
