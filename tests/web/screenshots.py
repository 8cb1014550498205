#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Pictures of the web page for docs/ on a host without KVM: a petreld (no jailer) with four
definitions and two real petrel workers it adopts (their API up, no guest booted), then
e2e.mjs's `screenshots` scenario. Usage: tests/web/screenshots.py DIR
(On a KVM host tests/web/test_web_kvm.py with PETREL_WEB_SCREENSHOTS=DIR takes them with
booted guests.)"""
import sys

import weblib


def main(out):
    p = weblib.mgrlib.Petreld(args=["--web-dir", str(weblib.DIST)], jailer=False).start()
    procs = []
    try:
        for name, vcpus, mem in [("web1", 2, 512), ("db1", 4, 2048), ("build-runner", 1, 256), ("test-01", 1, 128)]:
            doc = {"machine-config": {"vcpu_count": vcpus, "mem_size_mib": mem}}
            assert p.define(name, kernel=weblib.mgrlib.guest("counter"), **doc)[0] == 201
        procs = weblib.mgrlib.leave_workers(p, ["web1", "db1"], console_input=True)
        p.stop()
        p.start()
        fwd = weblib.Forwarder(p.sock)
        print(weblib.browser("screenshots", fwd.url, timeout=300, vm="web1", dir=out, settle_ms=7000))
    finally:
        for pr in procs:
            pr.kill()
        p.close()


if __name__ == "__main__":
    main(sys.argv[1])
