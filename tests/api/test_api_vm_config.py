# SPDX-License-Identifier: Apache-2.0
"""The VM's definition before InstanceStart: machine-config, boot-source, cpu-config and GET
/vm/config as a whole, with good and bad requests. Each answer is checked against Firecracker's
API spec (status allowed for the operation, body shape) by apilib."""
import json

import pytest

import apilib


# ---- machine-config ----

DEFAULT_MC = {"vcpu_count": 1, "mem_size_mib": 128, "smt": False,  # no cpu_template: Firecracker omits None
              "track_dirty_pages": False, "huge_pages": "None"}


def test_machine_config_default(api):
    r = api.get("/machine-config")
    assert r.status == 200 and r.json == DEFAULT_MC


def test_machine_config_put_get(api):
    body = {"vcpu_count": 2, "mem_size_mib": 256, "smt": True, "cpu_template": "T2",
            "track_dirty_pages": True, "huge_pages": "None"}
    apilib.validate(body, apilib.request_schema("PUT", "/machine-config"))
    assert api.put("/machine-config", body).status == 204
    assert api.get("/machine-config").json == body
    # PUT resets what it leaves out to the defaults.
    assert api.put("/machine-config", {"vcpu_count": 4, "mem_size_mib": 512}).status == 204
    assert api.get("/machine-config").json == dict(DEFAULT_MC, vcpu_count=4, mem_size_mib=512)


def test_machine_config_patch(api):
    assert api.patch("/machine-config", {"mem_size_mib": 300}).status == 204
    assert api.patch("/machine-config", {"smt": True, "vcpu_count": 2}).status == 204
    assert api.get("/machine-config").json == dict(DEFAULT_MC, mem_size_mib=300, smt=True, vcpu_count=2)
    # null means "not given"
    assert api.patch("/machine-config", {"vcpu_count": 4, "smt": None}).status == 204
    assert api.get("/machine-config").json["smt"] is True


def test_machine_config_huge_pages(api, workdir):
    # Firecracker's machine-config huge_pages: None, Transparent (THP) and 2M (hugetlbfs)
    for hp in ("Transparent", "2M", "None"):
        assert api.patch("/machine-config", {"huge_pages": hp}).status == 204
        assert api.get("/machine-config").json["huge_pages"] == hp
        assert api.get("/vm/config").json["machine-config"]["huge_pages"] == hp
    r = api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 129, "huge_pages": "2M"})
    assert r.status == 400 and "2M needs an even mem_size_mib" in r.fault
    r = api.patch("/machine-config", {"huge_pages": "1G"})
    assert r.status == 400 and "expected one of None, Transparent, 2M" in r.fault
    # A pool too small for the VM: InstanceStart says so (and what to do) before anything is built.
    kernel = workdir / "kernel"
    kernel.write_bytes(b"\0" * 4096)
    assert api.put("/boot-source", {"kernel_image_path": str(kernel)}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 1024 * 1024,
                                       "huge_pages": "2M"}).status == 204
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 400 and "huge_pages 2M: the VM needs 524288 free 2 MiB huge pages" in r.fault, r
    assert "nr_hugepages" in r.fault
    assert api.get("/").json["state"] == "Not started"


@pytest.mark.parametrize("body,word", [
    ({}, "empty"),
    ({"vcpu_count": None}, "empty"),
    ({"bogus": 1}, "bogus"),
    ({"vcpu_count": 3, "smt": True}, "even"),
    ({"mem_size_mib": "big"}, "integer"),
])
def test_machine_config_patch_bad(api, body, word):
    r = api.patch("/machine-config", body)
    assert r.status == 400 and word in r.fault, r
    assert api.get("/machine-config").json == DEFAULT_MC


@pytest.mark.parametrize("body,word", [
    ({"mem_size_mib": 128}, "vcpu_count"),
    ({"vcpu_count": 1}, "mem_size_mib"),
    ({"vcpu_count": "2", "mem_size_mib": 128}, "integer"),
    ({"vcpu_count": 2.0, "mem_size_mib": 128}, "integer"),
    ({"vcpu_count": True, "mem_size_mib": 128}, "integer"),
    ({"vcpu_count": 0, "mem_size_mib": 128}, "vcpu_count"),
    ({"vcpu_count": 65, "mem_size_mib": 128}, "vcpu_count"),
    ({"vcpu_count": -1, "mem_size_mib": 128}, "vcpu_count"),
    ({"vcpu_count": 1, "mem_size_mib": -5}, "mem_size_mib"),
    ({"vcpu_count": 1, "mem_size_mib": 8}, "mem_size_mib"),
    ({"vcpu_count": 1, "mem_size_mib": 2 ** 64}, "integer"),
    ({"vcpu_count": 3, "mem_size_mib": 128, "smt": True}, "even"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "smt": "yes"}, "boolean"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "Fast"}, "cpu_template"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "V1N1"}, "aarch64"),
    ({"vcpu_count": 1, "mem_size_mib": 129, "huge_pages": "2M"}, "even"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "huge_pages": "1G"}, "huge_pages"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "track_dirty_pages": 1}, "boolean"),
    ({"vcpu_count": 1, "mem_size_mib": 128, "gdb_socket_path": "/x"}, "unknown"),
])
def test_machine_config_put_bad(api, body, word):
    r = api.put("/machine-config", raw=json.dumps(body).encode())
    assert r.status == 400, r
    assert word in r.fault, r
    assert api.get("/machine-config").json == DEFAULT_MC  # nothing changed


# ---- boot-source ----

def test_boot_source(api, workdir):
    initrd = workdir / "initrd"
    initrd.write_bytes(b"x" * 100)
    body = {"kernel_image_path": apilib.boot_kernel(), "initrd_path": str(initrd), "boot_args": "console=ttyS0 x=1"}
    apilib.validate(body, apilib.request_schema("PUT", "/boot-source"))
    assert api.put("/boot-source", body).status == 204
    assert api.get("/vm/config").json["boot-source"] == body
    # A second PUT replaces the whole boot source: no initrd, no boot_args any more (null, as
    # Firecracker reports them).
    assert api.put("/boot-source", {"kernel_image_path": apilib.boot_kernel()}).status == 204
    assert api.get("/vm/config").json["boot-source"] == {"kernel_image_path": apilib.boot_kernel(), "initrd_path": None,
                                                          "boot_args": None}


@pytest.mark.parametrize("body,word", [
    ({}, "kernel_image_path"),
    ({"boot_args": "x"}, "kernel_image_path"),
    ({"kernel_image_path": 5}, "string"),
    ({"kernel_image_path": ""}, "empty"),
    ({"kernel_image_path": "/nonexistent/vmlinux"}, "cannot be opened"),
    ({"kernel_image_path": "/"}, "directory"),
    ({"kernel_image_path": "KERNEL", "initrd_path": "/nonexistent/initrd"}, "initrd"),
    ({"kernel_image_path": "KERNEL", "boot_args": ["a"]}, "string"),
    ({"kernel_image_path": "KERNEL", "kernel_args": "a"}, "unknown"),
    ({"kernel_image_path": "KERNEL", "firmware_vars_path": "/tmp/x.vars"}, "goes with a firmware"),
    ({"firmware": "seabios", "firmware_vars_path": "/tmp/x.vars"}, "SeaBIOS keeps no variables"),
    ({"firmware": "/nonexistent/OVMF_CODE.fd", "firmware_vars_path": "/tmp/x.vars"}, "cannot be opened"),
    ({"firmware": "BIOS", "firmware_vars_path": "/"}, "directory"),
    ({"firmware": "BIOS", "firmware_vars_path": 3}, "string"),
])
def test_boot_source_bad(api, body, word):
    subst = {"KERNEL": apilib.boot_kernel(), "BIOS": apilib.boot_kernel()}   # any readable file as a firmware path
    body = {k: subst.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    r = api.put("/boot-source", body)
    assert r.status == 400 and word in r.fault, r
    assert "boot-source" not in api.get("/vm/config").json


def test_boot_source_uefi_vars_path(api, workdir):
    """petrel's firmware_vars_path: kept as given (the file is made at the start if missing) and
    shown by GET /vm/config only when set (petrel's extensions: beyond Firecracker's schema)."""
    code = workdir / "code.fd"
    code.write_bytes(b"\xff" * 4096)
    body = {"firmware": str(code), "firmware_vars_path": str(workdir / "vm.vars")}
    assert api.put("/boot-source", body).status == 204
    assert api.get("/vm/config", check=False).json["boot-source"] == {**body, "initrd_path": None, "boot_args": None}
    assert not (workdir / "vm.vars").exists()
    assert api.put("/boot-source", {"firmware": str(code)}).status == 204
    assert "firmware_vars_path" not in api.get("/vm/config", check=False).json["boot-source"]


# ---- cpu-config ----

CPU_CONFIG = {"cpuid_modifiers": [{"leaf": "0x7", "subleaf": "0x0", "flags": 1, "modifiers": [
    {"register": "ebx", "bitmap": "0bxxxxxxxxxxxxxxxxxxxxxxxxxxx0xxxx"}]}]}


def test_cpu_config(api):
    apilib.validate(CPU_CONFIG, apilib.request_schema("PUT", "/cpu-config"))
    assert api.put("/cpu-config", CPU_CONFIG).status == 204
    got = api.get("/vm/config").json["cpu-config"]
    assert got["cpuid_modifiers"][0]["leaf"] == "0x7"


@pytest.mark.parametrize("body,word", [
    ({"cpuid_modifiers": [{"leaf": "0x7"}]}, "subleaf"),
    ({"cpuid_modifiers": [{"leaf": "0x7", "subleaf": "0", "flags": 0, "modifiers": [
        {"register": "r9", "bitmap": "0b" + "x" * 32}]}]}, "register"),
    ({"cpuid_modifiers": [{"leaf": "0x7", "subleaf": "0", "flags": 0, "modifiers": [
        {"register": "eax", "bitmap": "0b1"}]}]}, "bitmap"),
    ({"reg_modifiers": []}, "aarch64"),
    ({"what": []}, "unknown"),
])
def test_cpu_config_bad(api, body, word):
    r = api.put("/cpu-config", body)
    assert r.status == 400 and word in r.fault, r


# ---- vm/config as a whole ----

def test_vm_config_full(api, workdir):
    api.put("/boot-source", {"kernel_image_path": apilib.boot_kernel(), "boot_args": "a=b"})
    api.put("/machine-config", {"vcpu_count": 2, "mem_size_mib": 64})
    api.put("/cpu-config", CPU_CONFIG)
    api.put("/vsock", {"guest_cid": 3, "uds_path": "/tmp/v.sock"})
    api.put("/entropy", {})
    api.put("/logger", {"level": "Debug"})
    api.put("/metrics", {"metrics_path": str(workdir / "m")})
    cfg = api.get("/vm/config").json  # validated against FullVmConfiguration
    assert {k for k, v in cfg.items() if v is not None} == {
        "boot-source", "machine-config", "cpu-config", "drives", "network-interfaces", "pmem", "vsock", "entropy",
        "logger", "metrics"}
    assert cfg["drives"] == [] and cfg["pmem"] == [] and cfg["network-interfaces"] == []
    # What petrel does not have is there as null, as Firecracker reports it.
    assert cfg["balloon"] is None and cfg["mmds-config"] is None
