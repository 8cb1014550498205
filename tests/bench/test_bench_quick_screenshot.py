# SPDX-License-Identifier: Apache-2.0
"""The screenshot bench in its quick mode (bench/screenshot.py, docs/display.md#thumbnails-in-the-list):
petreld's GET /vms/NAME/screenshot, full size and as the list's thumbnail, over petrel's VNC server
with a display in memory (no KVM), run as test_bench_quick.py runs the others. A file of its own:
the record of the KVM benches (tests/kvm-record.json) is kept per test file, and this one needs none."""
import pytest

import test_bench_quick as quick

# (command, needs /dev/kvm, needs root, a line its output must have, timeout s)
SCREENSHOT = [
    (["screenshot.py"], False, False, "thumbnail 160 wide", 180),
]


@pytest.mark.parametrize("argv,kvm,root,line,timeout", SCREENSHOT, ids=[" ".join(p[0]) for p in SCREENSHOT])
def test_screenshot_bench_quick(argv, kvm, root, line, timeout):
    quick.test_python_bench_quick(argv, kvm, root, line, timeout)
