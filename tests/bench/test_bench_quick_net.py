# SPDX-License-Identifier: Apache-2.0
"""The host networks' benches in their quick mode (docs/networks.md), run as test_bench_quick.py
runs the others (its runner: the bench must exit 0 and print its row). A file of their own: the
record of the KVM benches (tests/kvm-record.json) is kept per test file: an edit here makes only
these rows' record stale (net_guards_vm.py boots freestanding guests, net_start.py starts
VMs under petreld: KVM)."""
import pytest

import test_bench_quick as quick

# (command, needs /dev/kvm, needs root, a line its output must have, timeout s)
NET = [
    (["guards.py"], False, True, "guards_apply on a tap without guards", 120),
    (["net_guards_vm.py"], True, True, "petreld nat network, guards on", 600),
    (["net_start.py"], True, True, "the network's tap, petreld's own timing", 600),
]


@pytest.mark.parametrize("argv,kvm,root,line,timeout", NET, ids=[" ".join(p[0]) for p in NET])
def test_net_bench_quick(argv, kvm, root, line, timeout):
    quick.test_python_bench_quick(argv, kvm, root, line, timeout)
