"""Failover soak (scripts/soak-failover.sh N): N rounds of a replicated counting guest whose
primary is killed (SIGKILL) at a random moment; each round the standby must take over, the
guest's memory check must pass, and the console of the primary (what the outside saw) followed
by the standby's must be one count with no gap. The standby writes again the console output of
the epoch whose checkpoint it holds unless the primary said it wrote it, so a repeat is possible
only of that: the output of one epoch, byte for byte, when the primary died between writing it
and saying so (reported separately). Prints a line per round and a summary; exit status 0 if
every round passed. Runs ring-3 test guests only (seconds a round).
"""
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import petrel_test  # noqa: F401,E402  (the shared test framework: apilib ...)
import apilib  # noqa: E402
import failover_console  # noqa: E402

GEN = r"^gen=(\d+) ok$"


def gens(text):
    text = text[:text.rfind("\n") + 1]
    return [int(n) for n in re.findall(GEN, text, re.M)]


def wait(cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    return None


def one_round(n, interval):
    d = Path(tempfile.mkdtemp(prefix="petrel-soak-failover-", dir="/tmp"))
    (d / "p").mkdir()
    (d / "s").mkdir()
    p, s = apilib.Petrel(d / "p"), apilib.Petrel(d / "s")
    try:
        api, sapi = p.client(), s.client()
        img = str(apilib.guest("counter"))
        api.put("/boot-source", {"kernel_image_path": img, "boot_args": "every=4194304 fill_mib=8 rewrite=1"})
        api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})
        api.put("/actions", {"action_type": "InstanceStart"})
        p.expect(r"^gen=2 ok$")
        url = f"unix:{d / 'repl.sock'}"
        # the standby refuses a timeout an interval and a checkpoint could outlast
        timeout = max(500, 2 * interval + 100)
        sapi.put("/replication", {"role": "standby", "listen_url": url, "failure_timeout_ms": timeout}, check=False)
        api.put("/replication", {"role": "primary", "peer_url": url, "checkpoint_interval_ms": interval}, check=False)
        if not wait(lambda: api.get("/replication", check=False).json.get("state") == "protected", 30):
            return "never protected"
        # The guest's line rate, to tell one epoch's output from more.
        n0, t_rate = len(gens(p.out.text())), time.monotonic()
        time.sleep(0.5)
        rate = (len(gens(p.out.text())) - n0) / (time.monotonic() - t_rate)
        epoch_lines = int(rate * interval / 1000 * 1.5) + 2
        time.sleep(random.uniform(0.0, 1.0))
        os.kill(p.proc.pid, signal.SIGKILL)
        p.proc.wait()
        t0 = time.monotonic()
        if not wait(lambda: sapi.get("/replication", check=False).json.get("state") == "active", 10):
            return f"no takeover: {sapi.get('/replication', check=False).json}"
        seen = gens(p.out.text())
        if not seen:
            return "the primary showed nothing"
        if not wait(lambda: max(gens(s.out.text()) or [0]) >= seen[-1] + 2, 30):
            return "the standby's guest did not go on"
        after = gens(s.out.text())
        if seen != list(range(seen[0], seen[0] + len(seen))) or after != list(range(after[0], after[0] + len(after))):
            return "FAILED: a count broken within one petrel"
        if "FAIL" in s.out.text():
            return "the guest's memory check failed on the standby"
        took = f"takeover {1000 * (time.monotonic() - t0):.0f} ms, last seen gen={seen[-1]}"
        try:
            _, again = failover_console.join(p.out.text(), s.out.text(), GEN)
        except AssertionError as e:
            return f"FAILED: {e}"
        if again:
            # The primary died after writing the epoch's output and before telling the standby:
            # that output comes twice. More than an epoch's lines would be a failure.
            repeated = seen[-1] - after[0] + 1
            return (f"{'repeated' if repeated <= epoch_lines else 'FAILED: repeated'} {repeated} line(s) "
                    f"({again} bytes) the primary wrote just before dying (an epoch holds up to ~{epoch_lines}; {took})")
        if "written again" in s.err.text():
            # The primary died after the acknowledgement and before writing the epoch's output:
            # the standby wrote it (before this, those lines were lost).
            return f"exact, the standby wrote the last epoch's output the primary had not ({took})"
        return f"exact ({took})"
    finally:
        for q in (p, s):
            try:
                os.kill(q.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            q.close()
        shutil.rmtree(d, ignore_errors=True)


def main():
    import pytest  # noqa: F401  (apilib needs it)
    del pytest
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    interval = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    bad = again = 0
    for i in range(1, n + 1):
        r = one_round(i, interval)
        bad += not (r.startswith("exact") or r.startswith("repeated"))
        again += r.startswith("repeated")
        print(f"{i:4} {r}", flush=True)
    print(f"failover soak: {n - bad - again} of {n} rounds exact, {again} repeated the output of the epoch the "
          f"primary died writing, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
