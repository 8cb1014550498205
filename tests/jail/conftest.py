# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the jailer's tests: a short base directory for jails, the parent cgroup of
this run's jails, and the jails a test starts (each torn down at the end)."""
import os
import shutil

import pytest

import jaillib


@pytest.fixture
def base():
    d = jaillib.short_tmpdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def parent_cgroup():
    return f"petrel-test-{os.getpid()}"


@pytest.fixture
def jails():
    """Jails a test starts; each is torn down at the end, whatever happened."""
    started = []
    yield started
    for j in started:
        j.close()
