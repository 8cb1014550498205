# SPDX-License-Identifier: Apache-2.0
"""A failed cluster test's report carries the cluster's state and the hosts' notable log lines
(clusterlib.Cluster.diagnose): the logs live on tmpfs and go with the cluster, and a CI run
shows only its output."""
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    c = getattr(item, "funcargs", {}).get("cluster")
    if rep.failed and call.when == "call" and c is not None:
        try:
            text = c.diagnose()
        except Exception as e:  # a report must not hide the failure it explains
            text = f"no diagnosis: {e!r}"
        rep.sections.append(("cluster state at the failure", text))
