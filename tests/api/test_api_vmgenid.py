# SPDX-License-Identifier: Apache-2.0
"""The VM generation ID (issue 8, docs/snapshots.md) with the ring-3 guest tests/guests/vmgenid.c,
which finds the ID and the GED through the DSDT as Linux does and prints
"genid=<hex> irqs=N events=E count=C". Every snapshot load gives a new ID and one GED
interrupt with event bit 1, after the VM runs; clones of one snapshot get different IDs; a
live migration keeps the ID and sends no event; --no-vmgenid has none. Needs /dev/kvm
(apilib.guest skips otherwise)."""
import re
import subprocess
import time

import apilib
from test_api_migration import destination, wait_exit, wait_state
from test_api_snapshot import load, snapshot

LINE = re.compile(r"^genid=([0-9a-f]{32}) irqs=(\d+) events=(\d+) count=(\d+)\r?$", re.M)


def lines(p):
    return [(g, int(i), int(e), int(c)) for g, i, e, c in LINE.findall(p.out.text())]


def wait_line(p, cond, timeout=60):
    """The first console line (after any already seen) for which cond(genid, irqs, events)."""
    p.expect(r"^genid=", timeout=timeout)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for ln in lines(p):
            if cond(*ln[:3]):
                return ln
        time.sleep(0.05)
    raise AssertionError(f"no matching line:\n{p.out.text()[-2000:]}\n{p.describe()}")


def boot(api, args="every=1048576"):
    img = str(apilib.guest("vmgenid"))
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": args}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204


def test_each_load_gets_a_new_id_and_one_notification(petrel, api, workdir):
    boot(api)
    first = wait_line(petrel, lambda g, i, e: True)
    g0 = first[0]
    assert first[1] == 0 and first[2] == 0, first  # no event at boot
    assert g0 != "0" * 32
    state, mem = snapshot(api, workdir)
    petrel.close()

    ids = set()
    for name in ("one", "two"):
        p = load(workdir, name, state, mem)
        try:
            ln = wait_line(p, lambda g, i, e: i >= 1)
            assert ln[0] != g0 and ln[1] == 1 and ln[2] & 1, ln
            # exactly one interrupt: later lines keep irqs=1 and the same new ID
            p.expect(rf"count={ln[3] + 2}\r?$")
            later = [x for x in lines(p) if x[3] > ln[3]]
            assert later and all(x[0] == ln[0] and x[1] == 1 for x in later), later
            # before the interrupt, the guest still saw the old ID or already the new one,
            # never anything else
            assert all(x[0] in (g0, ln[0]) for x in lines(p)), lines(p)
            ids.add(ln[0])
        finally:
            p.close()
    assert len(ids) == 2, ids  # two clones of one snapshot, two IDs


def test_load_paused_notifies_only_at_resume(petrel, api, workdir):
    boot(api)
    g0 = wait_line(petrel, lambda g, i, e: True)[0]
    state, mem = snapshot(api, workdir)
    petrel.close()
    p = load(workdir, "paused", state, mem, resume=False)
    try:
        a = p.client()
        assert a.get("/").json["state"] == "Paused"
        assert a.patch("/vm", {"state": "Resumed"}).status == 204
        ln = wait_line(p, lambda g, i, e: i >= 1)
        assert ln[0] != g0 and ln[1] == 1, ln
    finally:
        p.close()


def test_migration_keeps_the_id(petrel, api, workdir):
    boot(api)
    g0 = wait_line(petrel, lambda g, i, e: True)[0]
    dst = destination(workdir)
    try:
        url = f"unix:{workdir / 'mig.sock'}"
        dapi = dst.client()
        assert dapi.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        assert api.put("/migration/send", {"destination_url": url}, check=False).status == 204
        wait_state(dapi, "completed")
        assert wait_exit(petrel) == 0, petrel.describe()
        last = max(x[3] for x in lines(petrel))
        dst.expect(rf"count={last + 2}\r?$")
        after = lines(dst)
        assert after and all(x[0] == g0 and x[1] == 0 for x in after), after
    finally:
        dst.close()


def test_no_vmgenid_has_no_device(workdir):
    img = str(apilib.guest("vmgenid"))
    r = subprocess.run([str(apilib.petrel_bin()), "run", "--kernel", img, "--debug-exit",
                        "--cmdline", "nogenid=1", "--no-vmgenid"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "ok vmgenid" in r.stdout, r.stdout + r.stderr
