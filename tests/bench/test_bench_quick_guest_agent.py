# SPDX-License-Identifier: Apache-2.0
"""The guest-agent bench in its quick mode (bench/guest_agent.py, docs/guest-agent.md): the Debian
cloud template with qemu-guest-agent booted by petreld and by QEMU, ten pings and one
file-system consistent backup each. Two Linux boots: only in the extra run
(PETREL_LINUX_EXTRA=1), under scripts/nested-kvm.sh or on hardware KVM (a PVM host emulates the
guest's ring 0: tens of minutes a boot). A file of its own: the KVM record is kept per test file."""
import os

import pytest

import test_bench_quick as quick

pytestmark = [pytest.mark.needs_kvm,
              pytest.mark.skipif(os.path.exists("/sys/module/kvm_pvm"),
                                 reason="a Linux guest's boot takes tens of minutes on a PVM host (emulated ring 0); "
                                        "run under scripts/nested-kvm.sh or on hardware KVM")]


def test_guest_agent_bench_quick():
    if os.environ.get("PETREL_LINUX_EXTRA") != "1":
        pytest.skip("boots Linux twice: run with PETREL_LINUX_EXTRA=1 (scripts/linux-extra.sh)")
    quick.test_python_bench_quick(["guest_agent.py"], True, True, "time frozen per backup", 2400)
