# SPDX-License-Identifier: Apache-2.0
"""petrel's /guest/... endpoints and the snapshot's "consistency" without a guest
(docs/guest-agent.md): bodies checked, each refusal with its reason, nothing waits. The
endpoints with a guest agent are tests/virtio/test_guest_agent.py's."""
import time

import pytest


@pytest.mark.parametrize("method,path,body,why", [
    ("GET", "/guest/ping", None, "not supported before starting"),
    ("GET", "/guest/info", None, "not supported before starting"),
    ("GET", "/guest/interfaces", None, "not supported before starting"),
    ("PUT", "/guest/time", None, "not supported before starting"),
    ("PUT", "/guest/fstrim", None, "not supported before starting"),
    ("PUT", "/guest/fsfreeze", {"action": "status"}, "not supported before starting"),
    ("PUT", "/guest/fsfreeze", {"action": "melt"}, "action: expected one of freeze, thaw, status"),
    ("PUT", "/guest/fsfreeze", {}, "action: expected one of"),
    ("PUT", "/guest/fsfreeze", {"action": "freeze", "x": 1}, "x: unknown field"),
    ("PUT", "/guest/shutdown", {"mode": "off"}, "mode: expected one of powerdown, reboot, halt"),
    ("PUT", "/guest/shutdown", {"mode": "halt"}, "not supported before starting"),
    ("PUT", "/guest/time", {"time": 5}, "time: unknown field"),
    ("PUT", "/snapshot/create", {"snapshot_path": "/s", "mem_file_path": "/m", "consistency": "app"},
     "consistency: expected \"auto\", \"filesystem\" or \"crash\""),
    ("PUT", "/snapshot/backup", {"backup_dir": "/b", "consistency": 1}, "consistency: expected"),
    ("PUT", "/snapshot/create", {"snapshot_path": "/s", "mem_file_path": "/m", "consistency": "filesystem"},
     "paused"),
])
def test_guest_requests_checked(api, method, path, body, why):
    t0 = time.monotonic()
    r = api.request(method, path, body, check=False)
    assert r.status == 400 and why in r.fault, r
    assert time.monotonic() - t0 < 2
    assert api.get("/").json["state"] == "Not started"
