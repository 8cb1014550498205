# SPDX-License-Identifier: Apache-2.0
"""The benches' median: the middle value of an odd count, the middle two's mean of an even one
(bench/run.py's and virtio_net_host.py's took the upper middle value, so a 2-run figure was the
larger run's). Importing a bench runs nothing."""
import importlib
import pathlib
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("module", ["run", "virtio_net_host"])
def test_median_is_the_true_median(module, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    m = importlib.import_module(module)
    assert m.median([5, 1, 3]) == 3
    assert m.median([4, 1, 3, 2]) == 2.5
    assert m.median([10.0, 20.0]) == 15.0
    assert m.median([7]) == 7
    sys.modules.pop(module, None)
