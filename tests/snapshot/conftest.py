import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
import apilib  # noqa: E402


@pytest.fixture
def workdir():
    # Short paths: a Unix socket path must fit in 108 bytes.
    d = Path(tempfile.mkdtemp(prefix="petrel-snap-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def petrel(workdir):
    p = apilib.Petrel(workdir)
    yield p
    p.close()


@pytest.fixture
def api(petrel):
    return petrel.client()
