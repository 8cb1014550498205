"""What the benches share: their quick mode.

BENCH_QUICK=1 runs a bench at its smallest (one run, small sizes and counts: seconds, not
minutes) with every code path it has still taken, and makes a row that could not be measured
an error (exit status 1) instead of a printed "failed". tests/bench/test_bench_quick.py runs
every bench so, so that a bench that stops working (a log line it parses changed, a helper it
runs moved) fails the test suite. The figures of a quick run mean nothing: nothing is asserted
on them; the real runs are the benches without BENCH_QUICK (bench/README.md).
"""
import os
import sys

QUICK = os.environ.get("BENCH_QUICK") == "1"


def pick(full, quick):
    """`quick` in quick mode, else `full`."""
    return quick if QUICK else full


def runs(env, default):
    """How many runs: 1 in quick mode, else $env or `default`."""
    return 1 if QUICK else int(os.environ.get(env, default))


def failed(what):
    """A row that could not be measured: printed; in quick mode the bench stops with it."""
    if QUICK:
        sys.exit(f"bench failed: {what}")
    print(what)
