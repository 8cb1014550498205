# SPDX-License-Identifier: Apache-2.0
"""The incremental backup bench in its quick mode (bench/backup_incremental.py, docs/backups.md#figures):
a 64 MiB disk, 1% written, a full and an incremental member of petrel's (KVM) and QEMU's
drive-backup with a dirty bitmap beside, run as test_bench_quick.py runs the others. A file of its
own: the KVM record (tests/kvm-record.json) is kept per test file."""
import pytest

import test_bench_quick as quick

# (command, needs /dev/kvm, needs root, a line its output must have, timeout s)
BACKUP = [
    (["backup_incremental.py"], True, False, "done: incremental backup bench", 600),
]


@pytest.mark.parametrize("argv,kvm,root,line,timeout", BACKUP, ids=[" ".join(p[0]) for p in BACKUP])
def test_backup_incremental_bench_quick(argv, kvm, root, line, timeout):
    quick.test_python_bench_quick(argv, kvm, root, line, timeout)
