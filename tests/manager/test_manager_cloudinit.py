# SPDX-License-Identifier: Apache-2.0
"""A definition's cloud-init section (petreld without guests, no /dev/kvm needed): what define
accepts and refuses, with the field named (docs/manager.md#cloud-init)."""
import json

import pytest

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
    """A definition is at most 1 MiB too: the seed's files (the user's data with the seed's own
    lines and the structured fields around it) can pass the limit by a little only."""
    p = petreld()

    def section(size):
        return {"users": [{"name": "debian", "ssh_authorized_keys": [KEY]}], "vendor_data": "#!/bin/sh\n",
                "user_data": "#cloud-config\n# " + "x" * (size - 17) + "\n"}
    st, body = p.define("x", petrel={"cloud-init": section((1 << 20) - 1200)})
    assert st == 400 and "the seed it makes would be larger than 1048576 bytes" in body["fault_message"], body
    st, body = p.define("x", petrel={"cloud-init": section(900 << 10)})
    assert st == 201, body


def test_petrelctl_define_shows_the_fields_error(petreld, tmp_path):
    p = petreld()
    f = tmp_path / "x.json"
    f.write_text(json.dumps({"boot-source": {"kernel_image_path": str(mgrlib.guest("counter"))},
                             "petrel": {"name": "x", "cloud-init": {"users": [{"name": "a", "passwd": "secret"}]}}}))
    r = p.ctl("define", str(f))
    assert r.returncode == 1 and "petrel.cloud-init.users[0].passwd" in r.stderr
