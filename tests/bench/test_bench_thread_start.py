# SPDX-License-Identifier: Apache-2.0
"""seccomp's start-up cost by parts in its quick mode (bench/seccomp.py threads,
bench/thread_start_host.c, docs/performance.md#seccomp-start), run as test_bench_quick.py runs
the others: no KVM, every variant's threads under petrel's own built-in filters."""
import pytest

import test_bench_quick as quick

THREADS = [
    (["seccomp.py", "threads"], False, False, "direct+filters", 300),
]


@pytest.mark.parametrize("argv,kvm,root,line,timeout", THREADS, ids=[" ".join(p[0]) for p in THREADS])
def test_thread_start_bench_quick(argv, kvm, root, line, timeout):
    quick.test_python_bench_quick(argv, kvm, root, line, timeout)
