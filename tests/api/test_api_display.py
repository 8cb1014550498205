# SPDX-License-Identifier: Apache-2.0
"""petrel's display API (PUT /display before the start, the "display" config-file section, its
place in GET /vm/config; docs/display.md). /display is not in Firecracker's spec, so its
answers are checked here (check=False). The device itself: tests/unit/test_bochs.c and the test
guest tests/guests/display.c (test_guest_display.py)."""
import json

import pytest

import apilib

DEFAULTS = {"model": "bochs", "width": 1024, "height": 768, "tablet": True}


def test_vm_config_without_it_has_no_key(api):
    assert "display" not in api.get("/vm/config").json


def test_put_defaults(api):
    assert api.put("/display", {}, check=False).status == 204
    assert api.get("/vm/config", check=False).json["display"] == DEFAULTS


def test_put_all_fields_and_replace(api):
    body = {"model": "bochs", "width": 1280, "height": 800, "tablet": False, "vnc_socket": "/run/vnc.sock"}
    assert api.put("/display", body, check=False).status == 204
    assert api.get("/vm/config", check=False).json["display"] == body
    assert api.put("/display", {"width": 640, "height": 480}, check=False).status == 204
    assert api.get("/vm/config", check=False).json["display"] == dict(DEFAULTS, width=640, height=480)


@pytest.mark.parametrize("body,word", [
    ([], "must be a JSON object"),
    ({"model": "cirrus"}, "model: expected \"bochs\" or \"stdvga\""),
    ({"width": 100}, "width: must be between 320 and 3840"),
    ({"height": 5000}, "height: must be between 200 and 2160"),
    ({"width": "1024"}, "width: expected an integer"),
    ({"tablet": 1}, "tablet"),
    ({"vnc_socket": ""}, "vnc_socket: must be a path of 1 to 107 bytes"),
    ({"vnc_socket": "/x" * 60}, "vnc_socket: must be a path of 1 to 107 bytes"),
    ({"vnc_socket": 3}, "vnc_socket: expected a string"),
    ({"depth": 32}, "depth: unknown field"),
])
def test_put_bad(api, body, word):
    r = api.put("/display", body, check=False)
    assert r.status == 400 and word in r.fault, r
    assert "display" not in api.get("/vm/config").json  # nothing was configured


def test_config_file_bad_section(workdir):
    """The config file's section goes through the same parser (the good one is in
    tests/guests/test_guest_display.py, which starts a VM with it)."""
    cfg = workdir / "vm.json"
    cfg.write_text(json.dumps({"display": {"model": "vga"}}))
    p = apilib.Petrel(workdir, ["--no-api", "--config-file", cfg], api=False, level=None)
    try:
        assert p.wait() == 2, p.describe()
        assert "display.model" in p.err.text(), p.describe()
    finally:
        p.close()
