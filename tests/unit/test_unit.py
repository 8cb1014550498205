"""Runs the C unit-test binaries as pytest tests: those built with ASan/UBSan in build-asan/, and
those of the normal build (build/), which is what ships: optimized (-O2), and without the
sanitizers, so that petrel's own seccomp filters are installed as in production (with a
sanitizer, src/seccomp/seccomp.c leaves the spawn filter out and allows the sanitizer's calls).

The normal build's binaries run in the background, one at a time, from the start of the session,
while the ASan ones run one by one: most of a unit test's time is waiting (timers, sockets,
sleeps), so they add about nothing to the suite's time (measured on this 2-core machine without
KVM, at a load average of 10 from other work: tests/unit 187 s with the ASan binaries alone,
189 s with both; the normal build's alone, one by one: 76 s; two at a time in the background
cost more, 235 s against 192 s)."""
import concurrent.futures
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILDS = {
    "asan": pathlib.Path(os.environ.get("PETREL_ASAN_BUILD", ROOT / "build-asan")),
    "normal": pathlib.Path(os.environ.get("PETREL_BUILD", ROOT / "build")),
}
SOURCES = sorted(p.stem for p in (ROOT / "tests" / "unit").glob("test_*.c"))
TIMEOUT = 300


def run(build, name):
    exe = BUILDS[build] / "tests" / "unit" / name
    if not exe.exists():
        return None
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    try:
        return subprocess.run([str(exe)], capture_output=True, text=True, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(e.cmd, -1, e.stdout or "", f"timed out after {TIMEOUT} s")


@pytest.fixture(scope="session")
def normal_runs(request):
    """The normal build's binaries this session selected, started at once in the background."""
    names = [item.callspec.params["name"] for item in request.session.items
             if getattr(item, "callspec", None) and item.callspec.params.get("build") == "normal"
             and item.module.__name__ == __name__]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    futures = {name: pool.submit(run, "normal", name) for name in names}
    yield futures
    pool.shutdown(wait=False, cancel_futures=True)


@pytest.mark.parametrize("build", ["asan", "normal"])
@pytest.mark.parametrize("name", SOURCES)
def test_unit_binary(build, name, normal_runs):
    r = normal_runs[name].result() if build == "normal" and name in normal_runs else run(build, name)
    assert r is not None, f"{BUILDS[build]}/tests/unit/{name} was not built (is it in tests/unit/meson.build?)"
    assert r.returncode == 0, f"{name} ({build} build) failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
