# SPDX-License-Identifier: Apache-2.0
"""A guest's reset through the API (docs/user-guide.md#guest-reboot-and-reset): machine-config's
`reboot` ("reset", the default, or "stop"), the reset count in the metrics, and a VM that reset
snapshotted, restored into a fresh petrel and reset again there."""
import json

import apilib
from test_api_snapshot import load, snapshot


def start_reboot(api, args, entropy=False, **machine):
    assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest("reboot")), "boot_args": args}).status == 204
    r = api.put("/machine-config", {"vcpu_count": 2, "mem_size_mib": 128, **machine})
    assert r.status == 204, r
    if entropy:
        assert api.put("/entropy", {}).status == 204
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 204, r


def test_machine_config_reboot_field(api):
    assert "reboot" not in api.get("/machine-config").json  # the default: as Firecracker's document
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "reboot": "stop"}).status == 204
    # petrel's extension, outside Firecracker's spec: not checked against it
    assert api.get("/machine-config", check=False).json["reboot"] == "stop"
    assert api.get("/vm/config", check=False).json["machine-config"]["reboot"] == "stop"
    assert api.patch("/machine-config", {"reboot": "reset"}).status == 204
    assert "reboot" not in api.get("/machine-config").json
    r = api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "reboot": "poweroff"})
    assert r.status == 400 and "machine-config.reboot" in r.json["fault_message"], r


def test_reset_count_in_metrics(petrel, api, workdir):
    m = workdir / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(m)}).status == 204
    start_reboot(api, "mode=all resets=3 hold=1")
    petrel.expect(r"^reboot: holding$")
    assert api.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    lines = [json.loads(line) for line in m.read_text().splitlines()]
    assert sum(line["vm"]["reset_count"] for line in lines) == 3, lines
    assert sum(line["i8042"]["reset_count"] for line in lines) == 1, lines  # one of the three


def test_snapshot_after_resets_restores_and_resets_again(petrel, api, workdir):
    start_reboot(api, "mode=all resets=2 hold=1 rng=1", entropy=True)
    petrel.expect(r"^reboot: holding$")
    assert petrel.out.text().count("reboot: virtio-rng ok") == 3, petrel.describe()
    state, mem = snapshot(api, workdir)
    petrel.close()

    p2 = load(workdir, "second", state, mem)
    try:
        assert p2.client().get("/").json["state"] == "Running"
        # a console byte: the restored guest resets once more and boots in this petrel
        p2.proc.stdin.write(b"x")
        p2.proc.stdin.flush()
        p2.expect(r"^ok reboot$")
        assert p2.wait() == 0, p2.describe()
        out = p2.out.text()
        assert "reboot: boot 3" in out and "reboot: virtio-rng ok" in out, p2.describe()
    finally:
        p2.close()
