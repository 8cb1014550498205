# SPDX-License-Identifier: Apache-2.0
"""Clones with disks of their own: drive_overrides (petrel's, in /snapshot/load) gives each
clone of one snapshot its own copy of the snapshot's disk, so clones that write do not write
into each other's (or the template's) image."""
import shutil

import apilib
from test_api_snapshot import assert_counts_go_on, snapshot

ROUND = r"^blkloop round=(\d+) ok$"


def rounds(p):
    return [int(n) for n in p.lines(ROUND)]


def test_each_clone_writes_its_own_disk(petrel, api, workdir):
    disk = workdir / "template.img"
    disk.write_bytes(b"\0" * (1 << 20))
    assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest("blkloop"))}).status == 204
    assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(disk), "is_root_device": False,
                                    "is_read_only": False}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    petrel.expect(r"^blkloop round=10 ok$")
    state, mem = snapshot(api, workdir)
    last = max(rounds(petrel))
    petrel.close()
    template = disk.read_bytes()
    clones = []
    try:
        for i in range(2):
            copy = workdir / f"clone{i}.img"
            shutil.copyfile(disk, copy)
            d = workdir / f"c{i}"
            d.mkdir()
            p = apilib.Petrel(d)
            clones.append((p, copy))
            r = p.client().put("/snapshot/load", {
                "snapshot_path": str(state), "mem_backend": {"backend_type": "File", "backend_path": str(mem)},
                "resume_vm": True, "drive_overrides": [{"drive_id": "disk", "path_on_host": str(copy)}]})
            assert r.status == 204, r
            cfg = p.client().get("/vm/config").json
            assert cfg["drives"][0]["path_on_host"] == str(copy), cfg
        for p, _ in clones:
            p.expect(rf"^blkloop round={last + 10} ok$")
            assert_counts_go_on(petrel.out.text(), p.out.text(), ROUND)
            assert "FAIL" not in p.out.text(), p.describe()
    finally:
        for p, _ in clones:
            p.close()
    # The clones wrote their copies; the template image is as the snapshot left it.
    assert disk.read_bytes() == template
    assert all(copy.read_bytes() != template for _, copy in clones)


def test_drive_overrides_checked(petrel, api, workdir):
    assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest("counter"))}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    petrel.expect(r"^count=1$")
    state, mem = snapshot(api, workdir)
    petrel.close()
    d = workdir / "x"
    d.mkdir()
    p = apilib.Petrel(d)
    try:
        for body, msg in (([{"drive_id": "nope", "path_on_host": "/tmp/x"}], "no drive 'nope'"),
                          ([{"drive_id": "disk"}], "path_on_host"), ({"a": 1}, "array")):
            r = p.client().put("/snapshot/load", {"snapshot_path": str(state), "mem_file_path": str(mem),
                                                  "drive_overrides": body}, check=False)
            assert r.status == 400 and msg in r.fault, (body, r)
    finally:
        p.close()
