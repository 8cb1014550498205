# SPDX-License-Identifier: Apache-2.0
"""Refusals of a UEFI VM's files (issue 53, docs/firmware.md#uefi-ovmf): a vars file that is
truncated or no firmware volume, a code file that is not OVMF's, a vars file with SeaBIOS or with
a kernel are refused clearly, from the command line and the API, and a refused vars file is left
as it was. No firmware runs: these pass on any KVM host, PVM ones included (test_ovmf.py boots
OVMF)."""
import hashlib
import os
import subprocess

import pytest

import apilib
import fwlib
import guestlib


def missing():
    return list(fwlib.missing_tools(qemu=False)) + fwlib.missing_efi_tools()



pytestmark = [pytest.mark.needs_kvm,
              pytest.mark.skipif(bool(missing()), reason=f"missing {', '.join(missing())} (scripts/setup.sh)")]


def guest(name):
    path = guestlib.build_dir() / "tests" / "guests" / f"{name}.bzimage"
    if not path.exists():
        pytest.skip(f"{path} is not built (ninja -C {guestlib.build_dir()})")
    return path



def efi_disk(workdir, name="efi.img", timeout=None):
    image = workdir / name
    env = dict(os.environ, PETREL_GRUB_TIMEOUT=str(timeout)) if timeout else None
    fwlib.mkimage("grub-efi-disk", image, guest("boot"), "", fwlib.GUEST_CMDLINE, env=env)
    return image



def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()



def test_bad_vars_and_code_refused(workdir):
    """Clear refusals, the process ending normally, and a refused vars file left unchanged."""
    image = efi_disk(workdir)
    short = workdir / "short.vars"
    short.write_bytes(fwlib.OVMF_VARS.read_bytes()[:100000])
    nofv = workdir / "nofv.vars"
    nofv.write_bytes(bytes(128 << 10))
    good = workdir / "good.vars"
    good.write_bytes(fwlib.OVMF_VARS.read_bytes())
    before = {f: digest(f) for f in (short, nofv, good)}
    petrel = str(guestlib.petrel_bin())
    cases = [(["--firmware", "ovmf", "--firmware-vars", short], "is 100000 bytes: a vars file is a multiple of 4 KiB"),
             (["--firmware", "ovmf", "--firmware-vars", nofv], "not a UEFI variables file"),
             (["--firmware", "seabios", "--firmware-vars", good], "SeaBIOS keeps no variables"),
             (["--firmware", str(fwlib.SEABIOS), "--firmware-vars", good], "not an OVMF code file"),
             (["--kernel", guest("boot"), "--firmware-vars", good], "goes with a firmware")]
    for args, want in cases:
        args = [str(a) for a in args] + ["--disk", f"{image},ro"]
        r = subprocess.run([petrel, "run", "--mem", "64", "--debug-exit", *args], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode in (1, 2), (args, r.returncode, r.stderr)
        assert want in r.stderr, (args, r.stderr)
    assert {f: digest(f) for f in (short, nofv, good)} == before

    d = workdir / "api"
    d.mkdir()
    p = apilib.Petrel(d)
    try:
        api = p.client()
        r = api.put("/boot-source", {"firmware": "seabios", "firmware_vars_path": str(good)}, check=False)
        assert r.status == 400 and "SeaBIOS keeps no variables" in r.fault, r
        r = api.put("/boot-source", {"kernel_image_path": str(guest("boot")), "firmware_vars_path": str(good)},
                    check=False)
        assert r.status == 400 and "goes with a firmware" in r.fault, r
        assert api.put("/boot-source", {"firmware": "ovmf", "firmware_vars_path": str(nofv)}).status == 204
        assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(image), "is_root_device": False,
                                        "is_read_only": True}).status == 204
        r = api.put("/actions", {"action_type": "InstanceStart"}, check=False)
        assert r.status == 400 and "not a UEFI variables file" in r.fault, r
        assert api.get("/").json["state"] == "Not started"
        cfg = api.get("/vm/config", check=False).json["boot-source"]   # petrel's fields: beyond Firecracker's schema
        assert cfg["firmware"] == "ovmf" and cfg["firmware_vars_path"] == str(nofv), cfg
    finally:
        p.close()
    assert digest(nofv) == before[nofv]


def test_vmm_makes_the_vars_file_and_runs_on(workdir):
    """A vars file that does not exist is made by the VMM from Debian's template, 0600, and the
    VM goes on (the VMM makes it after its seccomp filter is in place: a forbidden call there killed
    it). Runs on every KVM host: only the first seconds of OVMF's start are needed."""
    image = efi_disk(workdir)
    vars_path = workdir / "new.vars"
    argv = fwlib.petrel_argv([f"{image},ro,boot=0"], mem=128, firmware="ovmf", vars=vars_path,
                             extra=("--level", "Info"))
    b = fwlib.run_timed(argv, ["created the vars file"], timeout=8.0)
    # still running after 8 s (KVM), or ended by its own error (a PVM host: OVMF's first FWAIT), not by a signal
    assert b.rc is None or b.rc >= 0, f"petrel was killed ({b.rc}):\n{b.out[-3000:]}"
    assert "created the vars file" in b.marks and "seccomp" not in b.out, b.out[-3000:]
    assert vars_path.stat().st_mode & 0o777 == 0o600
    data, template = vars_path.read_bytes(), fwlib.OVMF_VARS.read_bytes()
    assert len(data) == len(template) and data[40:44] == b"_FVH" == template[40:44]
