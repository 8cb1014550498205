"""Runs the C unit-test binaries (built with ASan/UBSan in build-asan/) as pytest tests."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("PETREL_ASAN_BUILD", ROOT / "build-asan"))
UNIT_DIR = BUILD / "tests" / "unit"
SOURCES = sorted(p.stem for p in (ROOT / "tests" / "unit").glob("test_*.c"))


@pytest.mark.parametrize("name", SOURCES)
def test_unit_binary(name):
    exe = UNIT_DIR / name
    assert exe.exists(), f"{exe} was not built (is it in tests/unit/meson.build?)"
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, f"{name} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
