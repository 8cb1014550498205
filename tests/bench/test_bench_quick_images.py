# SPDX-License-Identifier: Apache-2.0
"""The bench of VMs made from an image in its quick mode (bench/from_image.py,
docs/manager.md#vms-from-an-image), run as test_bench_quick.py runs the others. A file of its own:
the record of the KVM benches (tests/kvm-record.json) is kept per test file."""
import pytest

import test_bench_quick as quick

# (command, needs /dev/kvm, needs root, a line its output must have, timeout s)
IMAGES = [
    # the last row: virt-install's beside petreld's (libvirtd and virtinst installed: scripts/setup.sh)
    (["from_image.py"], True, True, "virt-install, made and started", 1800),
]


@pytest.mark.parametrize("argv,kvm,root,line,timeout", IMAGES, ids=[" ".join(p[0]) for p in IMAGES])
def test_images_bench_quick(argv, kvm, root, line, timeout):
    quick.test_python_bench_quick(argv, kvm, root, line, timeout)
