"""src/startup.order (scripts/startup-order.sh) names the functions `petrel run` executes, which
the link places together. It is written from a traced run under KVM, so a function split out of
the start or stop path later is missing until someone runs the script again, and the kernel
maps one more page of text at every start. This checks the stop path of `cli_run` (the block
after its last `vm_join`): every petrel function called there, and every one those call in
src/cli/stop_report.c without --stats, is listed. (cli_report_stop, split out of run.c, was not.)"""
import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build"))


def functions_in(build):
    """The global functions defined in the petrel program."""
    r = subprocess.run(["nm", "--defined-only", str(build / "petrel")], capture_output=True, text=True)
    return {f[2] for f in (line.split() for line in r.stdout.splitlines()) if len(f) == 3 and f[1] == "T"}


def calls(text):
    return set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*\(", text))


def test_the_stop_path_of_petrel_run_is_listed():
    if not (BUILD / "petrel").exists():
        pytest.skip(f"{BUILD}/petrel is not built")
    defined = functions_in(BUILD)
    run_c = (ROOT / "src" / "cli" / "run.c").read_text()
    body = run_c[run_c.index("\nint cli_run("):]
    body = body[:body.index("\n}\n")]
    stop = body[body.rindex("vm_join(vm);"):]
    block = stop[stop.index("if (vm) {"):]
    block = block[:block.index("\n\t}\n")]
    names = calls(block) | {"vm_join"}
    report = (ROOT / "src" / "cli" / "stop_report.c").read_text()
    report = report[report.index("\nvoid cli_report_stop("):]
    # up to the --stats branch: the traced run does not pass --stats
    names |= calls(report[:report.index("if (!stats")])
    listed = {line.strip() for line in (ROOT / "src" / "startup.order").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    missing = sorted(n for n in names & defined if n not in listed)
    assert not missing, f"not in src/startup.order: {missing}"
