# SPDX-License-Identifier: Apache-2.0
"""bochs-display and the PS/2 keyboard and mouse with a real guest (tests/guests/display.c;
docs/display.md): the guest finds the device, reads its EDID, programs the mode through the
DISPI registers (after absurd ones with evil=1), draws; the frame is read through display.h
(petrel's test-only PUT /display/frame, with --debug-exit) and compared with what the guest
drew, the lines KVM's dirty log reports are the ones it changed; keys and pointer motion sent
through display.h (PUT /display/input) reach the guest, which echoes them on its console."""
import re
from pathlib import Path

import apilib

W, H = 640, 480


def pixel(x, y):
    return (x & 0xFF) | (y & 0xFF) << 8 | ((x + y) >> 3 & 0xFF) << 16


def expected_frame(band=False):
    out = bytearray()
    for y in range(H):
        if band and 100 <= y < 120:
            out += (0x0000FF00).to_bytes(4, "little") * W
        else:
            out += b"".join(pixel(x, y).to_bytes(4, "little") for x in range(W))
    return bytes(out)


def frame(api, path):
    r = api.put("/display/frame", {"path": str(path)}, check=False)
    assert r.status == 200, r
    return r.json, Path(path).read_bytes()


def keys(api, codes):
    seq = []
    for c in codes:
        seq += [[c, True], [c, False]]
    assert api.put("/display/input", {"keys": seq}, check=False).status == 204


def boot(api, args):
    img = str(apilib.guest("display"))
    assert api.put("/display", {"width": W, "height": H}, check=False).status == 204
    assert api.put("/boot-source", {"kernel_image_path": img, "boot_args": args}).status == 204
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128}).status == 204
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 204, r


def band_drawn(petrel, api):
    """The guest booted with its tablet, drawn, and its band drawn after a line typed."""
    boot(api, "tablet=1 wait=60")
    petrel.expect(r"^display: waiting for keys$")
    keys(api, [0x23, 0x1C])  # h Enter
    petrel.expect(r"^display: band drawn$")


def test_display_guest(petrel, api, workdir):
    boot(api, "evil=1 wait=60")
    petrel.expect(r"^display: drawn 640x480$")
    out = petrel.out.text()
    assert re.search(r"^display: edid 640x480$", out, re.M), out
    assert re.search(r"^display: evil done$", out, re.M), out
    # what the guest programmed was refused, clearly, and nothing else happened
    err = petrel.err.text()
    assert "the guest's mode is refused: a depth of 16 bits per pixel" in err, err
    assert "16000x12000" in err and "video memory" in err, err
    assert "only little-endian" in err, err
    cfg = api.get("/vm/config", check=False).json
    assert cfg["display"] == {"model": "bochs", "width": W, "height": H, "tablet": True}

    f = workdir / "frame.bin"
    mode, data = frame(api, f)
    assert mode["enabled"] and (mode["width"], mode["height"], mode["stride"], mode["bpp"]) == (W, H, W * 4, 32)
    assert mode["changed_lines"] == H  # a new mode: every line
    assert data == expected_frame(), "the frame is not what the guest drew"
    mode2, _ = frame(api, f)
    assert mode2["changed_lines"] == 0 and mode2["generation"] == mode["generation"]

    petrel.expect(r"^display: waiting for keys$")
    # the pointer: relative motion, then absolute positions turned into motion (no tablet yet)
    assert api.put("/display/input", {"motion": [3, 2, 1]}, check=False).status == 204
    petrel.expect(r"^mouse 1 3 -2$")
    assert api.put("/display/input", {"pointer": [100, 100, 0]}, check=False).status == 204
    petrel.expect(r"^mouse 0 0 0$")
    assert api.put("/display/input", {"pointer": [110, 95, 0]}, check=False).status == 204
    petrel.expect(r"^mouse 0 10 5$")
    keys(api, [0x23, 0x17, 0x1C])  # h i Enter
    petrel.expect(r"^line: hi$")
    petrel.expect(r"^display: band drawn$")
    mode3, data = frame(api, f)
    # the dirty log's pages: lines 100-119, and line 99 shares a page with line 100
    assert mode3["first_changed"] in (99, 100) and mode3["last_changed"] == 119, mode3
    assert mode3["changed_lines"] <= 21, mode3
    assert data == expected_frame(band=True)
    keys(api, [0x18, 0x25, 0x1C])  # o k Enter
    assert petrel.wait() == 0, petrel.describe()
    assert re.search(r"^ok display$", petrel.out.text(), re.M), petrel.describe()
    # the keyboard's bytes as the guest read them: set 2 translated into set 1
    assert "key 23\nkey a3\nkey 17\nkey 97\nkey 1c\nline: hi" in petrel.out.text()


def test_display_test_paths_need_debug_exit(workdir):
    p = apilib.Petrel(workdir, debug_exit=False)
    try:
        r = p.client().put("/display/frame", {"path": str(workdir / "f")}, check=False)
        assert r.status == 400 and "test-only" in r.fault, r
    finally:
        p.close()


def test_display_tablet(petrel, api, workdir):
    """With a driver for the tablet, absolute positions go to it (scaled to 0..32767 over the
    mode), with button changes and a SYN_REPORT; the PS/2 mouse gets nothing."""
    boot(api, "tablet=1 wait=60")
    petrel.expect(r"^display: tablet 'petrel tablet'$")
    petrel.expect(r"^display: waiting for keys$")
    assert api.put("/display/input", {"pointer": [320, 240, 1]}, check=False).status == 204
    petrel.expect(r"^tablet 0 0 0$")
    out = petrel.out.text()
    want = f"tablet 3 0 {320 * 32767 // 639}\ntablet 3 1 {240 * 32767 // 479}\ntablet 1 272 1\ntablet 0 0 0"
    assert want in out, out
    assert api.put("/display/input", {"pointer": [639, 479, 8]}, check=False).status == 204  # wheel up
    petrel.expect(r"^tablet 1 272 0$")
    petrel.expect(r"^tablet 2 8 1$")
    assert not re.search(r"^mouse ", petrel.out.text(), re.M)
    keys(api, [0x1C, 0x1C])
    assert petrel.wait() == 0, petrel.describe()


def shows_and_goes_on(p, api, path, x):
    """The VM p took over (restored, migrated) shows the band frame, every line new to whoever
    shows it; its tablet takes a position at x and Enter ends the guest. Returns the frame."""
    mode, data = frame(api, path)
    assert (mode["width"], mode["height"], mode["stride"]) == (W, H, W * 4) and mode["changed_lines"] == H, mode
    assert data == expected_frame(band=True)
    assert api.put("/display/input", {"pointer": [x, 0, 0]}, check=False).status == 204
    p.expect(rf"^tablet 3 0 {x * 32767 // (W - 1)}$")
    keys(api, [0x1C])
    assert p.wait() == 0, p.describe()
    return data


def test_display_snapshot_restore(petrel, api, workdir):
    """A snapshot carries the screen (video memory, the mode), the keyboard's and the mouse's
    state and the tablet's: the restored VM shows the same frame and goes on reading keys."""
    band_drawn(petrel, api)
    before, data = frame(api, workdir / "before.bin")
    assert api.patch("/vm", {"state": "Paused"}).status == 204
    state, mem = workdir / "snap.state", workdir / "snap.mem"
    r = api.put("/snapshot/create", {"snapshot_type": "Full", "snapshot_path": str(state),
                                     "mem_file_path": str(mem)})
    assert r.status == 204, r
    petrel.close()
    d = workdir / "restored"
    d.mkdir()
    p = apilib.Petrel(d)
    try:
        api2 = p.client()
        r = api2.put("/snapshot/load", {"snapshot_path": str(state), "mem_file_path": str(mem),
                                        "resume_vm": True})
        assert r.status == 204, f"{r}\n{p.describe()}"
        assert api2.get("/vm/config", check=False).json["display"]["width"] == W
        assert shows_and_goes_on(p, api2, d / "after.bin", 0) == data
    finally:
        p.close()


def test_display_live_migration(petrel, api, workdir):
    """Live migration with a drawn screen: the destination shows the same frame (its video
    memory comes in BOCH, in the final pause) and its keyboard and tablet go on."""
    from test_api_migration import destination, wait_exit, wait_state
    band_drawn(petrel, api)
    dst = destination(workdir)
    try:
        url = f"unix:{workdir / 'mig.sock'}"
        dapi = dst.client()
        assert dapi.put("/migration/receive", {"receiver_url": url}, check=False).status == 204
        assert api.put("/migration/send", {"destination_url": url}, check=False).status == 204
        wait_state(dapi, "completed")
        assert wait_exit(petrel) == 0, petrel.describe()
        shows_and_goes_on(dst, dapi, workdir / "migrated.bin", W - 1)
    finally:
        dst.close()
