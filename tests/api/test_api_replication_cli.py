"""The CLI forms of replication: `petrel run --standby URL [--next-standby URL]` and
`petrel replicate` (the API forms are in test_api_replication.py)."""
import os
import re
import subprocess
import time

import apilib
import failover_console
from test_api_migration import GEN, gens
from test_api_replication import boot, wait_checkpoints


def test_cli_standby_and_replicate(petrel, api, workdir):
    """`petrel run --standby URL` waits as a standby and runs the VM when the primary dies;
    `petrel replicate` makes a running petrel its primary."""
    boot(petrel, api)
    url = f"unix:{workdir / 'cli.sock'}"
    sb = subprocess.Popen([str(apilib.petrel_bin()), "run", "--standby", url], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while not (workdir / "cli.sock").exists() and time.monotonic() < end:
            time.sleep(0.02)
        r = subprocess.run([str(apilib.petrel_bin()), "replicate", "--api-sock", str(petrel.sock), "--to", url,
                            "--interval-ms", "30"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "protected" in r.stdout, (r.stdout, r.stderr)
        wait_checkpoints(api, 3)
        petrel.proc.kill()
        petrel.wait()  # and its output read to the end
        last = max(gens(petrel))
        out = apilib.read_until(sb, f"gen={last + 2} ok".encode())
        failover_console.join(petrel.out.text(), out.decode(), GEN)
    finally:
        sb.kill()
        sb.wait()


def test_cli_standby_chain_takes_over_twice(petrel, api, workdir):
    """`petrel run --standby A --next-standby B`: when the primary dies this standby runs the
    VM and replicates it to the standby at B (one generation on), which takes over in turn
    when this one dies: the count goes on through both takeovers."""
    boot(petrel, api)
    a, b = f"unix:{workdir / 'a.sock'}", f"unix:{workdir / 'b.sock'}"
    cmd = [str(apilib.petrel_bin()), "run"]
    last = subprocess.Popen(cmd + ["--standby", b], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    apilib._Reader(last.stderr).start()  # drained, so that its log never blocks it
    first = subprocess.Popen(cmd + ["--standby", a, "--next-standby", b], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    errs = apilib._Reader(first.stderr)
    errs.start()
    try:
        end = time.monotonic() + 10
        while not ((workdir / "a.sock").exists() and (workdir / "b.sock").exists()) and time.monotonic() < end:
            time.sleep(0.02)
        assert api.put("/replication", {"role": "primary", "peer_url": a, "checkpoint_interval_ms": 30},
                       check=False).status == 204
        wait_checkpoints(api, 3)
        petrel.proc.kill()
        petrel.wait()  # and its output read to the end
        seen = petrel.out.text()
        out1 = apilib.read_until(first, f"gen={max(gens(petrel)) + 2} ok".encode()).decode()
        end = time.monotonic() + 30
        while b"protected again" not in errs.data and time.monotonic() < end:
            time.sleep(0.05)
        assert b"protected again: replicating to the standby on " + b.encode() in errs.data, errs.data[-2000:]
        lines = lambda text: [int(x) for x in re.findall(GEN, text.replace("\r", ""), re.M)]
        # Counting on, protected by the last standby for a few more checkpoints.
        out1 += apilib.read_until(first, f"gen={max(lines(out1)) + 3} ok".encode()).decode()
        time.sleep(0.5)
        first.kill()
        first.wait()
        os.set_blocking(first.stdout.fileno(), False)
        out1 += (first.stdout.read() or b"").decode()
        n = max(lines(out1))
        out2 = apilib.read_until(last, f"gen={n + 2} ok".encode()).decode()
        failover_console.join(failover_console.join(seen, out1, GEN)[0], out2, GEN)
        assert "FAIL" not in out1 + out2
    finally:
        for p in (first, last):
            p.kill()
            p.wait()
