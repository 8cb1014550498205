# SPDX-License-Identifier: Apache-2.0
"""Replication of a firmware-booted VM (docs/firmware.md#snapshots-migration-replication): the
counting test guest booted through SeaBIOS and GRUB from a disk is checkpointed to a standby; the
primary killed, the standby runs the guest on from the last checkpoint — the chipset, fw_cfg and
the firmware's memory travel in the one state encoding as any device's. One firmware boot."""

import pytest

import failover_console
import fwlib
import guestlib
from test_api_migration import GEN, gens
from test_api_replication import standby, wait_checkpoints, wait_repl

pytestmark = pytest.mark.needs_kvm

ARGS = "every=4194304 fill_mib=8 rewrite=1"


def test_firmware_vm_replicated_standby_runs_on(petrel, workdir):
    if fwlib.missing_tools():
        pytest.skip(f"missing: {fwlib.missing_tools()}")
    kernel = guestlib.require("counter", "bzimage")
    disk = workdir / "counter.img"
    fwlib.mkimage("grub-disk", disk, kernel, "", ARGS)
    api = petrel.client()
    assert api.put("/boot-source", {"firmware": "seabios"}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    assert api.put("/drives/disk", {"drive_id": "disk", "path_on_host": str(disk), "is_root_device": False,
                                    "is_read_only": True}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    petrel.expect(fwlib.GRUB_MARKER, timeout=300)
    petrel.expect(r"^gen=2 ok$", timeout=300)
    uuid = api.get("/vm/config", check=False).json["machine-config"]["uuid"]  # made up at the start (petrel's field)
    copy = workdir / "standby.img"  # the standby's own image: the initial sync fills it
    copy.write_bytes(b"")
    sb, url = standby(workdir, failure_timeout_ms=1000,
                      drive_overrides=[{"drive_id": "disk", "path_on_host": str(copy)}])
    try:
        r = api.put("/replication", {"role": "primary", "peer_url": url, "checkpoint_interval_ms": 100,
                                     "failure_timeout_ms": 1000}, check=False)
        assert r.status == 204, r
        wait_repl(api, "protected", timeout=120)
        wait_checkpoints(api, 3, timeout=120)
        petrel.proc.kill()
        petrel.wait()
        sapi = sb.client()
        st = wait_repl(sapi, "active", timeout=20)
        assert sapi.get("/").json["state"] == "Running"
        # the standby runs the same machine: a firmware VM with the definition's UUID
        cfg = sapi.get("/vm/config", check=False).json
        assert cfg["boot-source"]["firmware"] == "seabios", cfg
        assert cfg["machine-config"]["uuid"] == uuid, cfg
        last = max(gens(petrel))
        sb.expect(rf"^gen={last + 2} ok$", timeout=120)
        failover_console.join(petrel.out.text(), sb.out.text(), GEN)
        assert "FAIL" not in sb.out.text(), sb.describe()
        assert st["generation"] == 2, st
    finally:
        sb.close()

