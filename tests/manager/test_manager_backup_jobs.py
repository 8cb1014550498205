# SPDX-License-Identifier: Apache-2.0
"""Backup jobs without KVM (docs/backups.md): calendar expressions against their next times (in
UTC and across summer-time changes of a named zone), retention over a simulated year against an
independent reading of Proxmox's rules, job definitions refused, the scheduler under the test
clock (a run per occurrence, a failure an event, a missed run made once at start, a run cut
short by kill -9 finished), and backup-verify finding an altered and a missing member."""
import datetime
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from zoneinfo import ZoneInfo

import pytest

import mgrlib

BERLIN = ZoneInfo("Europe/Berlin")
UTC = datetime.timezone.utc


def ts(*a, tz=UTC):
    return int(datetime.datetime(*a, tzinfo=tz).timestamp())


def clocked(tmp_path, start, tz="UTC", **kw):
    """A petreld without the jailer whose schedules run on the test clock (a file), in zone tz."""
    clock = tmp_path / "clock"
    clock.write_text(str(start))
    p = mgrlib.Petreld(jailer=False, args=["--test-clock", str(clock)], prefix=["env", f"TZ={tz}"], **kw).start()
    return p, clock


def next_times(p, expr, after, count):
    st, body = p.api("POST", "/backup-calendar", {"schedule": expr, "after": after, "count": count})
    assert st == 200, body
    return body["next"]


def test_calendar_next_times(tmp_path):
    p, _ = clocked(tmp_path, 0, tz="Europe/Berlin")
    try:
        t0 = ts(2027, 1, 1, 12, 0, 0)   # a Friday, 13:00 in Berlin
        cases = [
            ("minutely UTC", [ts(2027, 1, 1, 12, 1), ts(2027, 1, 1, 12, 2)]),
            ("hourly UTC", [ts(2027, 1, 1, 13), ts(2027, 1, 1, 14)]),
            ("daily UTC", [ts(2027, 1, 2), ts(2027, 1, 3)]),
            ("weekly UTC", [ts(2027, 1, 4), ts(2027, 1, 11)]),
            ("monthly UTC", [ts(2027, 2, 1), ts(2027, 3, 1)]),
            ("yearly UTC", [ts(2028, 1, 1), ts(2029, 1, 1)]),
            ("Mon..Fri 02:30 UTC", [ts(2027, 1, 4, 2, 30), ts(2027, 1, 5, 2, 30), ts(2027, 1, 6, 2, 30)]),
            ("Sat,Sun *-*-* 10:00 UTC", [ts(2027, 1, 2, 10), ts(2027, 1, 3, 10), ts(2027, 1, 9, 10)]),
            ("*-*-* *:0/20 UTC", [ts(2027, 1, 1, 12, 20), ts(2027, 1, 1, 12, 40), ts(2027, 1, 1, 13)]),
            ("*-*-01,15 03:00:30 UTC", [ts(2027, 1, 15, 3, 0, 30), ts(2027, 2, 1, 3, 0, 30)]),
            ("2027-02..03-29..31 00:00 UTC", [ts(2027, 3, 29), ts(2027, 3, 30), ts(2027, 3, 31)]),
            ("*-02-29 12:00 UTC", [ts(2028, 2, 29, 12), ts(2032, 2, 29, 12)]),
            ("Fri *-*-13 UTC", [ts(2027, 8, 13), ts(2028, 10, 13)]),
            ("2027-*-* 23:59:59 UTC", [ts(2027, 1, 1, 23, 59, 59)]),
            ("*:*:10..12 UTC", [ts(2027, 1, 1, 12, 0, 10), ts(2027, 1, 1, 12, 0, 11), ts(2027, 1, 1, 12, 0, 12),
                                ts(2027, 1, 1, 12, 1, 10)]),
            ("12-25 UTC", [ts(2027, 12, 25), ts(2028, 12, 25)]),
            # the host's zone (TZ): 13:00 local now
            ("daily", [ts(2027, 1, 2, tz=BERLIN), ts(2027, 1, 3, tz=BERLIN)]),
            ("*-*-* 14:00", [ts(2027, 1, 1, 14, tz=BERLIN), ts(2027, 1, 2, 14, tz=BERLIN)]),
        ]
        for expr, want in cases:
            assert next_times(p, expr, t0, len(want)) == want, expr
        assert next_times(p, "2026-*-* 00:00 UTC", t0, 3) == []   # none left
        # Summer time begins on 2027-03-28 (02:00 -> 03:00 in Berlin): 02:30 does not exist that day.
        spring = ts(2027, 3, 26, 12, tz=BERLIN)
        assert next_times(p, "*-*-* 02:30", spring, 3) == [
            ts(2027, 3, 27, 2, 30, tz=BERLIN), ts(2027, 3, 29, 2, 30, tz=BERLIN), ts(2027, 3, 30, 2, 30, tz=BERLIN)]
        daily = next_times(p, "daily", spring, 3)   # local midnights: a 23-hour day between them
        assert daily == [ts(2027, 3, 27, tz=BERLIN), ts(2027, 3, 28, tz=BERLIN), ts(2027, 3, 29, tz=BERLIN)]
        assert daily[2] - daily[1] == 23 * 3600
        hours = next_times(p, "hourly", ts(2027, 3, 28, 0, 30, tz=BERLIN), 3)
        assert hours == [ts(2027, 3, 28, 1, tz=BERLIN), ts(2027, 3, 28, 3, tz=BERLIN), ts(2027, 3, 28, 4, tz=BERLIN)]
        assert hours[1] - hours[0] == 3600
        # It ends on 2027-10-31 (03:00 -> 02:00): 02:30 happens twice, and is one occurrence (the first).
        autumn = ts(2027, 10, 30, 12, tz=BERLIN)
        first = int(datetime.datetime(2027, 10, 31, 2, 30, fold=0, tzinfo=BERLIN).timestamp())
        assert next_times(p, "*-*-* 02:30", autumn, 2) == [first, ts(2027, 11, 1, 2, 30, tz=BERLIN)]
        assert next_times(p, "*-*-* 02:30", first, 1) == [ts(2027, 11, 1, 2, 30, tz=BERLIN)]
        daily = next_times(p, "daily", autumn, 2)
        assert daily[1] - daily[0] == 25 * 3600
        for bad in ("", "Mon..", "Fri..Mon", "*-13-01", "*-*-32", "25:00", "*:60", "1969-01-01", "2200-01-01",
                    "*-*-* *:*:*:*", "1/0:00", "daily daily", "Mon 1-2-3-4", "a,b", "*-*-1,,2", "02:30 EST",
                    "x" * 300):
            st, body = p.api("POST", "/backup-calendar", {"schedule": bad})
            assert st == 400, (bad, body)
        assert p.api("POST", "/backup-calendar", {"schedule": "daily", "count": 1001})[0] == 400
        assert p.api("POST", "/backup-calendar", {"schedule": "daily", "x": 1})[0] == 400
    finally:
        p.close()


# ---- retention ----

RULES = ["keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"]


def period(rule, t, tz):
    d = datetime.datetime.fromtimestamp(t, tz)
    return {"keep-last": t, "keep-hourly": d.strftime("%Y%m%d%H"), "keep-daily": d.strftime("%Y%m%d"),
            "keep-weekly": d.strftime("%G%V"), "keep-monthly": d.strftime("%Y%m"), "keep-yearly": d.strftime("%Y")}[rule]


def proxmox_prune(times, keep, tz):
    """Proxmox Backup Server's prune, as its documentation describes it: rules in order, newest
    backup first, the newest of each period kept until the count is reached; the periods an
    earlier rule kept a backup in are not counted again; the rest of a kept period is removed."""
    if not any(keep.get(r, 0) for r in RULES):
        return set(times)
    mark = {}
    order = sorted(times, reverse=True)
    for rule in RULES:
        n = keep.get(rule, 0)
        if not n:
            continue
        already = {period(rule, t, tz) for t in order if mark.get(t) == "keep"}
        included = set()
        for t in order:
            if t in mark:
                continue
            p = period(rule, t, tz)
            if p in already:
                continue
            if p not in included:
                if len(included) >= n:
                    break
                included.add(p)
                mark[t] = "keep"
            else:
                mark[t] = "remove"
    return {t for t in times if mark.get(t) == "keep"}


def test_retention_over_a_simulated_year(tmp_path):
    p, _ = clocked(tmp_path, 0, tz="Europe/Berlin")
    try:
        start = ts(2027, 1, 1, 0, 30, tz=BERLIN)
        hourly = [start + 3600 * i for i in range(365 * 24)]   # a backup every hour for a year
        keep = {"keep-daily": 7, "keep-weekly": 4, "keep-monthly": 12}
        st, body = p.api("POST", "/backup-retention", {"retention": keep, "times": hourly})
        assert st == 200, body
        kept = set(body["keep"])
        assert kept | set(body["remove"]) == set(hourly) and not kept & set(body["remove"])
        assert kept == proxmox_prune(hourly, keep, BERLIN)
        # What the rule says, by hand: the last backup (23:30) of each of the last 7 days; then the
        # newest of each of the 4 ISO weeks before the ones those days are in; then the newest of
        # each month none of those is in, up to 12: the year has 12 months, 2 of them covered
        # already (December by the days, November by the weeks), so 7 + 4 + 10.
        last = datetime.datetime.fromtimestamp(hourly[-1], BERLIN)
        days = {int((last - datetime.timedelta(days=k)).replace(hour=23, minute=30).timestamp()) for k in range(7)}

        def newest_of(rule):
            out = {}
            for t in hourly:
                out[period(rule, t, BERLIN)] = max(out.get(period(rule, t, BERLIN), 0), t)
            return out

        covered = {period("keep-weekly", t, BERLIN) for t in days}
        weeks = set(sorted((t for w, t in newest_of("keep-weekly").items() if w not in covered), reverse=True)[:4])
        covered = {period("keep-monthly", t, BERLIN) for t in days | weeks}
        assert covered == {"202711", "202712"}
        months = {t for m, t in newest_of("keep-monthly").items() if m not in covered}
        assert kept == days | weeks | months and len(kept) == 21
        # Other rules and mixtures against the reference, on irregular times (several a day, gaps).
        irregular = sorted({start + (i * 7919 * 13) % (400 * 86400) for i in range(3000)})
        for k in ({"keep-last": 3}, {"keep-last": 2, "keep-hourly": 5}, {"keep-daily": 3, "keep-yearly": 2},
                  {"keep-hourly": 24, "keep-daily": 14, "keep-weekly": 8, "keep-monthly": 6, "keep-yearly": 1},
                  {"keep-last": 1, "keep-daily": 1}, {}):
            st, body = p.api("POST", "/backup-retention", {"retention": k, "times": irregular})
            assert st == 200 and set(body["keep"]) == proxmox_prune(irregular, k, BERLIN), k
        for bad in ({"keep-lots": 1}, {"keep-last": -1}, {"keep-last": "1"}, {"keep-last": 100001}, []):
            assert p.api("POST", "/backup-retention", {"retention": bad, "times": []})[0] == 400, bad
    finally:
        p.close()


# ---- jobs ----

def test_job_definitions_refused_and_listed(tmp_path):
    p, _ = clocked(tmp_path, ts(2027, 1, 1))
    try:
        good = {"id": "nightly", "vms": ["a", "b"], "schedule": "daily UTC", "retention": {"keep-daily": 7},
                "consistency": "crash", "mode": "full", "target_dir": str(tmp_path / "target")}
        for bad in ({**good, "id": "../x"}, {**good, "id": "x" * 41}, {**good, "vms": []}, {**good, "vms": "some"},
                    {**good, "vms": ["a", "a"]}, {**good, "vms": ["a/b"]}, {**good, "schedule": "sometimes"},
                    {**good, "target_dir": "relative"}, {**good, "target_dir": "/a/../b"},
                    {**good, "retention": {"keep-most": 1}}, {**good, "consistency": "none"},
                    {**good, "mode": "differential"}, {**good, "extra": 1},
                    {k: v for k, v in good.items() if k != "schedule"}, [], "x"):
            st, body = p.api("POST", "/backup-jobs", bad)
            assert st == 400, (bad, body)
        st, body = p.api("POST", "/backup-jobs", good)
        assert st == 201 and body["next_run"] == ts(2027, 1, 2), body
        assert p.api("POST", "/backup-jobs", {**good, "schedule": "hourly UTC"})[1]["next_run"] == ts(2027, 1, 1, 1)
        assert json.loads((p.root / "backup-jobs" / "nightly.json").read_text())["schedule"] == "hourly UTC"
        job = tmp_path / "job.json"
        job.write_text(json.dumps({"id": "all", "vms": "all", "schedule": "Mon 04:00 UTC"}))
        r = p.ctl("backup-job-define", str(job))
        assert r.returncode == 0 and "next run" in r.stdout, r.stderr
        r = p.ctl("backup-job-list")
        assert r.returncode == 0 and "nightly" in r.stdout and "Mon 04:00 UTC" in r.stdout, r.stdout
        assert p.api("GET", "/backup-jobs/nope")[0] == 404
        assert p.api("PUT", "/backup-jobs/all")[0] == 405
        assert p.ctl("backup-job-remove", "all").returncode == 0
        assert p.api("GET", "/backup-jobs/all")[0] == 404
        assert [j["id"] for j in p.api("GET", "/backup-jobs")[1]] == ["nightly"]
        # A job outlives petreld.
        p.stop(signal.SIGKILL)
        p.start()
        assert p.api("GET", "/backup-jobs/nightly")[1]["schedule"] == "hourly UTC"
    finally:
        p.close()


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_schedule_under_the_test_clock_without_a_guest(tmp_path):
    """A VM that is not running: every occurrence is a run that fails, an event with the reason,
    and the next occurrence tries again; none runs between occurrences; a run missed while
    petreld was down is made once at its start; a run cut short is finished, not repeated."""
    t0 = ts(2027, 1, 4)   # a Monday
    p, clock = clocked(tmp_path, t0)
    ev = None
    try:
        assert p.define("a")[0] == 201
        st, body = p.api("POST", "/backup-jobs", {"id": "j", "vms": ["a"], "schedule": "*-*-* 03,15:00 UTC"})
        assert st == 201 and body["next_run"] == t0 + 3 * 3600
        ev = mgrlib.Events(p.sock)
        runs = []
        for hour in range(1, 7 * 24 + 1):   # a week, an hour at a time
            now = t0 + hour * 3600
            clock.write_text(str(now))
            if hour % 12 == 3:
                e = ev.wait("a", "backup job failed", timeout=10)
                assert "not running" in e["reason"] and e["job"] == "j"
                runs.append(e["backup"])
                wait_for(lambda: p.api("GET", "/backup-jobs/j")[1]["last_run"] == now)
            job = p.api("GET", "/backup-jobs/j")[1]
            assert job["next_run"] == t0 + (hour // 12 * 12 + (3 if hour % 12 < 3 else 15)) * 3600, hour
        assert len(runs) == 14 and len(set(runs)) == 14
        assert runs[0] == "j-20270104T030000Z" and runs[-1] == "j-20270110T150000Z"
        time.sleep(0.3)
        assert not [e for e in ev.seen if e["event"] == "backup job failed"], ev.seen
        assert [e["backup"] for e in ev.seen if e["event"] == "backup job started"] == runs
        assert p.api("GET", "/backup-jobs/j")[1]["last_result"] == "failed"
        # petreld down for four occurrences (Jan 11 03:00 to Jan 12 15:00): at its start, one run,
        # for the first missed one; the next is the first after its start.
        # (Counted in the VM's log: the run may be over before a subscriber connects.)
        log = p.state / "logs" / "a.log"

        def started():
            return [json.loads(line.split(" ", 1)[1])["backup"] for line in log.read_text().splitlines()
                    if '"backup job started"' in line]

        assert started() == runs
        p.stop(signal.SIGKILL)
        ev.close()
        ev = None
        now = t0 + 7 * 86400 + 40 * 3600
        clock.write_text(str(now))
        p.start()
        wait_for(lambda: p.api("GET", "/backup-jobs/j")[1]["last_run"] == ts(2027, 1, 11, 3))
        time.sleep(0.5)
        assert started() == runs + ["j-20270111T030000Z"], "a missed run ran twice, or not at all"
        job = p.api("GET", "/backup-jobs/j")[1]
        assert job["next_run"] == ts(2027, 1, 13, 3) and not job["running"]
        # A run under way when petreld was killed (its state says so): finished once at start,
        # the next occurrence unchanged.
        p.stop(signal.SIGKILL)
        state = p.root / "backup-jobs" / "j.state"
        st = json.loads(state.read_text())
        st["running"] = ts(2027, 1, 13, 3)
        st["next_run"] = ts(2027, 1, 13, 15)
        state.write_text(json.dumps(st))
        clock.write_text(str(ts(2027, 1, 13, 3, 5)))
        p.start()
        wait_for(lambda: p.api("GET", "/backup-jobs/j")[1]["last_run"] == ts(2027, 1, 13, 3))
        time.sleep(0.5)
        assert started() == runs + ["j-20270111T030000Z", "j-20270113T030000Z"]
        job = p.api("GET", "/backup-jobs/j")[1]
        assert job["next_run"] == ts(2027, 1, 13, 15) and "running" not in json.loads(state.read_text())
        # Run now: answered when done, the result per VM; petrelctl says it failed.
        r = p.ctl("backup-job-run", "j")
        assert r.returncode == 1 and "not running" in r.stdout, (r.stdout, r.stderr)
        assert p.ctl("backup-job-run", "nope").returncode != 0
    finally:
        if ev:
            ev.close()
        p.close()


def test_verify_finds_an_altered_and_a_missing_member(tmp_path):
    """backup-verify over backups laid out as petreld writes them (meta.json's sha256 of each
    file; an incremental member's "parent"), changed behind petreld's back."""
    p, _ = clocked(tmp_path, ts(2027, 1, 1))
    try:
        assert p.define("v")[0] == 201
        base = p.root / "snap" / "v.backups"

        def member(name, files, parent=None):
            d = base / name
            d.mkdir(parents=True)
            for f, data in files.items():
                (d / f).write_bytes(data)
            meta = {"name": name, "created": 1, "mode": "incremental" if parent else "full",
                    "sha256": {f: hashlib.sha256(data).hexdigest() for f, data in files.items()}}
            if parent:
                meta["parent"] = parent
            (d / "meta.json").write_text(json.dumps(meta))
            return d

        full = member("full", {"vm.state": b"s" * 100, "data.img": b"d" * 65536})
        inc1 = member("inc1", {"vm.state": b"t" * 100, "data.qcow2": b"q" * 4096}, parent="full")
        member("inc2", {"vm.state": b"u" * 100, "data.qcow2": b"r" * 4096}, parent="inc1")
        st, rep = p.api("POST", "/vms/v/backups/inc2/verify")
        assert st == 200 and rep["ok"] and rep["chain"] == ["inc2", "inc1", "full"], rep
        r = p.ctl("backup-verify", "v", "inc2")
        assert r.returncode == 0 and "verified" in r.stdout
        # One byte of the full member's disk changed: named, with its member.
        with open(full / "data.img", "r+b") as f:
            f.seek(4096)
            f.write(b"X")
        st, rep = p.api("POST", "/vms/v/backups/inc2/verify")
        assert not rep["ok"] and rep["problems"] == [
            "member 'full': data.img is altered (its SHA-256 differs from the one recorded)"], rep
        assert {"backup": "full", "file": "data.img", "status": "altered"} in rep["files"]
        r = p.ctl("backup-verify", "v", "inc2")
        assert r.returncode == 1 and "data.img is altered" in r.stderr
        # A member's file missing, and a member missing from the chain.
        (inc1 / "data.qcow2").unlink()
        shutil.rmtree(full)
        st, rep = p.api("POST", "/vms/v/backups/inc2/verify")
        assert rep["problems"] == ["member 'inc1': data.qcow2 is missing",
                                   f"member 'full' is missing ({full})"], rep
        assert p.api("POST", "/vms/v/backups/nope/verify")[0] == 404
        assert p.api("POST", "/vms/nope/backups/inc2/verify")[0] == 404
        assert p.ctl("backup-verify", "v", "nope").returncode != 0
        # A meta.json naming files outside the member is not followed.
        evil = member("evil", {"vm.state": b"x"})
        (evil / "meta.json").write_text(json.dumps({"sha256": {"../inc2/vm.state": "00", "/etc/passwd": "00"}}))
        st, rep = p.api("POST", "/vms/v/backups/evil/verify")
        assert not rep["ok"] and all(f["file"] == "?" for f in rep["files"]), rep
    finally:
        p.close()


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")
def test_verify_checks_the_chain_links(tmp_path):
    """backup-verify follows each incremental disk member's link: its qcow2's backing file must be
    its drive's member in the parent (meta.json's "disks"), and be there. Members made by qemu-img."""
    p, _ = clocked(tmp_path, ts(2027, 1, 1))
    try:
        assert p.define("v")[0] == 201
        base = p.root / "snap" / "v.backups"

        def member(name, parent=None, backing=None):
            d = base / name
            d.mkdir(parents=True)
            (d / "vm.state").write_bytes(name.encode())
            if parent:
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", backing, "-F",
                                "raw" if backing.endswith(".img") else "qcow2", str(d / "data.qcow2")], check=True)
            else:
                (d / "data.img").write_bytes(os.urandom(1 << 20))
            f = "data.qcow2" if parent else "data.img"
            meta = {"name": name, "created": 1, "mode": "incremental" if parent else "full",
                    "sha256": {x: hashlib.sha256((d / x).read_bytes()).hexdigest() for x in ("vm.state", f)},
                    "disks": [{"drive_id": "data", "mode": "incremental" if parent else "full", "file": f}]}
            if parent:
                meta["parent"] = parent
            (d / "meta.json").write_text(json.dumps(meta))
            return d

        member("full")
        inc1 = member("inc1", "full", "../full/data.img")
        member("inc2", "inc1", "../inc1/data.qcow2")
        member("bad", "inc1", "../full/data.img")   # skips its parent
        st, rep = p.api("POST", "/vms/v/backups/inc2/verify")
        assert st == 200 and rep["ok"] and rep["chain"] == ["inc2", "inc1", "full"], rep
        st, rep = p.api("POST", "/vms/v/backups/bad/verify")
        assert rep["problems"] == ["member 'bad': data.qcow2's backing file is '../full/data.img', not its "
                                   "parent's ../inc1/data.qcow2"], rep
        (inc1 / "data.qcow2").unlink()
        st, rep = p.api("POST", "/vms/v/backups/inc2/verify")
        assert rep["problems"] == ["member 'inc2': data.qcow2's backing file ../inc1/data.qcow2 is missing",
                                   "member 'inc1': data.qcow2 is missing"], rep
    finally:
        p.close()
