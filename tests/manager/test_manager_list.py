# SPDX-License-Identifier: Apache-2.0
"""GET /list[/running]: the brief listing petrelctl list asks for (name, state, pid,
resources), and petrelctl list's table from it; GET /vms keeps the full objects."""
import signal

import mgrlib


def test_brief_list_and_the_table():
    p = mgrlib.Petreld(jailer=False).start()
    workers = []
    try:
        assert p.define("plain")[0] == 201
        assert p.define("weighted", petrel={"resources": {"cpu_weight": 200}})[0] == 201
        assert p.define("up")[0] == 201
        p.stop(signal.SIGKILL)
        workers = mgrlib.leave_workers(p, ["up"])
        p.start()
        st, brief = p.api("GET", "/list")
        assert st == 200
        by = {v["name"]: v for v in brief}
        assert by["plain"] == {"name": "plain", "state": "shut off"}
        assert by["weighted"]["resources"] == {"cpu_weight": 200}
        assert by["up"] == {"name": "up", "state": "running", "pid": workers[0].pid}
        st, running = p.api("GET", "/list/running")
        assert [v["name"] for v in running] == ["up"]
        assert p.api("POST", "/list")[0] == 405
        full = {v["name"]: v for v in p.api("GET", "/vms")[1]}
        assert "uuid" in full["plain"] and "machine-config" in full["plain"]
        rows = p.ctl("list", "--all", check=True).stdout.splitlines()[2:]
        assert sorted(r.split()[1] for r in rows) == ["plain", "up", "weighted"]
        assert any("cpu_weight" in r for r in rows if "weighted" in r)
        rows = p.ctl("list", check=True).stdout.splitlines()[2:]
        assert [r.split()[:3] for r in rows] == [[str(workers[0].pid), "up", "running"]]
    finally:
        for w in workers:
            w.kill()
        p.close()
