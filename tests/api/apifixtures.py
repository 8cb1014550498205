# SPDX-License-Identifier: Apache-2.0
"""The fixtures of a test that drives one petrel through its API: a short working directory and
a petrel serving a fresh socket in it. tests/api/conftest.py and the folders whose tests do the
same (tests/firmware) import them, so they are written once."""
import shutil
import tempfile
from pathlib import Path

import pytest

import apilib


@pytest.fixture
def workdir():
    # Short paths: a Unix socket path must fit in 108 bytes (pytest's tmp_path may not).
    d = Path(tempfile.mkdtemp(prefix="petrel-api-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def petrel(workdir):
    """A petrel serving the API on a fresh socket, nothing configured."""
    p = apilib.Petrel(workdir)
    yield p
    p.close()


@pytest.fixture
def api(petrel):
    return petrel.client()
