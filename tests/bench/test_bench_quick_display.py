# SPDX-License-Identifier: Apache-2.0
"""The display bench in its quick mode (bench/display.py, docs/display.md#figures-the-scrolling-console):
the display guest scrolling text, watched over VNC on petrel and on QEMU's bochs-display, run as
test_bench_quick.py runs the others. A file of its own: the record of the KVM benches
(tests/kvm-record.json) is kept per test file."""
import pytest

import test_bench_quick as quick

# (command, needs /dev/kvm, needs root, a line its output must have, timeout s)
DISPLAY = [
    (["display.py"], True, False, "| raw | 30 | petrel |", 600),
]


@pytest.mark.parametrize("argv,kvm,root,line,timeout", DISPLAY, ids=[" ".join(p[0]) for p in DISPLAY])
def test_display_bench_quick(argv, kvm, root, line, timeout):
    quick.test_python_bench_quick(argv, kvm, root, line, timeout)
