# SPDX-License-Identifier: Apache-2.0
"""Start-up stays lean (issue 15, docs/performance.md#start-up): libraries petrel
needs only for some work are loaded when that work comes, not at exec. The HTTP parser
(libhttp_parser) only when an API is served, and no TLS stack ever (the API is a Unix socket);
libseccomp only for --seccomp-filter (the built-in filters are compiled at build time). No VM
needed."""
import subprocess
import time

import apilib


def libraries(pid):
    with open(f"/proc/{pid}/maps") as f:
        return {line.split()[-1].rsplit("/", 1)[-1] for line in f if "/" in line}


def loaded(libs, name):
    return any(l.startswith(name) for l in libs)


def test_petrel_run_loads_no_http_library(workdir):
    # `petrel run --incoming` waits for a migration peer without a VM: a running `petrel run`
    sock = workdir / "peer.sock"
    p = subprocess.Popen([str(apilib.petrel_bin()), "run", "--incoming", f"unix:{sock}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < end and p.poll() is None:
            time.sleep(0.01)
        assert p.poll() is None, p.stderr.read()
        libs = libraries(p.pid)
        for name in ("libhttp_parser", "libmicrohttpd", "libgnutls", "libseccomp"):
            assert not loaded(libs, name), (name, sorted(libs))
    finally:
        p.kill()
        p.wait()
        p.stderr.close()


def test_the_api_loads_its_http_library(petrel, api):
    assert api.get("/").status == 200
    libs = libraries(petrel.proc.pid)
    assert loaded(libs, "libhttp_parser"), sorted(libs)
    for name in ("libmicrohttpd", "libgnutls", "libseccomp"):
        assert not loaded(libs, name), (name, sorted(libs))
