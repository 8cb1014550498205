"""src/startup.order (scripts/startup-order.sh) names the functions `petrel run` executes, which
the link places together. It is written from a traced run under KVM, so a function split out of
the start or stop path later is missing until someone runs the script again, and the kernel
maps one more page of text at every start. This checks the stop path of `cli_run` (the block
after its last `vm_join`): every petrel function called there, and every one those call in
src/cli/stop_report.c without --stats, is listed. (cli_report_stop, split out of run.c, was not.)"""
import json
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


def test_petrel_is_linked_with_the_start_up_layout():
    """With lld installed petrel is linked with the start-up layout (meson.build): its functions
    ordered and the start's read-only data in .rodata.start. meson's checks of the link
    arguments fall back to the default link without a word when one of them fails, as one
    did for a test program without .rodata."""
    if not (BUILD / "petrel").exists():
        pytest.skip(f"{BUILD}/petrel is not built")
    if not any(os.path.exists(p) for p in ("/usr/bin/ld.lld", "/usr/lib/llvm-16/bin/ld.lld")):
        pytest.skip("lld is not installed: the default link is expected")
    options = json.loads((BUILD / "meson-info" / "intro-buildoptions.json").read_text())
    value = {o["name"]: o["value"] for o in options}
    if value.get("b_sanitize", "none") != "none" or value.get("fuzz"):
        pytest.skip("sanitizer and fuzz builds keep the default link")
    r = subprocess.run(["readelf", "-SW", str(BUILD / "petrel")], capture_output=True, text=True, check=True)
    assert ".rodata.start" in r.stdout, "petrel was not linked with src/startup-rodata.ld (meson-log.txt: its link checks)"
