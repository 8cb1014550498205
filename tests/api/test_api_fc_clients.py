# SPDX-License-Identifier: Apache-2.0
"""What Firecracker's own clients see of petrel without a VM (issue 41): the version they parse
(--version's first line, GET /version, GET /, the first log line) is a semantic version in
Firecracker's form that tells both the API version and petrel's; a stop signal ends petrel the
way it ends Firecracker (killed by it, after the clean-up); --enable-pci. The API's other
answers in Firecracker's shape are checked where their endpoints are (test_api_endpoints,
test_api_devices, test_api_hotplug_memory, test_api_hardening)."""
import re
import signal
import subprocess

import pytest

import apilib

# semver.org's regular expression for a semantic version
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")


def petrel_version():
    build = (apilib.REPO / "meson.build").read_text()
    return re.search(r"version\s*:\s*'([^']+)'", build).group(1)


def parse_kata(stdout):
    """How Kata Containers reads `firecracker --version`: the first line's second word, less 'v'."""
    fields = stdout.split("\n")[0].split(" ")
    assert len(fields) > 1, stdout
    return fields[1].strip().removeprefix("v")


def test_version_everywhere(petrel, api):
    v = api.get("/version").json["firecracker_version"]
    m = SEMVER.match(v)
    assert m, v
    # the API version of the contract, with petrel's own version as build metadata
    assert f"{m[1]}.{m[2]}.{m[3]}" + (f"-{m[4]}" if m[4] else "") == apilib.spec()["info"]["version"]
    assert m[5] == f"petrel.{petrel_version()}"
    assert api.get("/").json["vmm_version"] == v
    r = subprocess.run([str(apilib.petrel_bin()), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and parse_kata(r.stdout) == v, r.stdout
    assert f"petrel {petrel_version()}" in r.stdout
    # Kata's floor (0.21.1) and any 1.x floor are met: the comparison ignores build metadata
    assert (int(m[1]), int(m[2]), int(m[3])) >= (1, 0, 0)
    # Firecracker's first log line, "Running Firecracker v<version>"
    first = petrel.err.text().splitlines()[0]
    assert f"Running Firecracker v{v}" in first, first


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["TERM", "INT", "HUP"])
def test_stop_signal_kills_after_the_clean_up(petrel, api, workdir, sig):
    m = workdir / "metrics.json"
    assert api.put("/metrics", {"metrics_path": str(m)}).status == 204
    petrel.signal(sig)
    assert petrel.wait() == -sig, petrel.describe()   # the parent's wait: killed by the signal
    assert "stopped by signal" in petrel.err.text()
    assert m.read_text().splitlines()[-1].startswith("{")   # the clean-up ran: the last metrics line
    assert not petrel.sock.exists()                          # and the socket is gone


def test_enable_pci(workdir):
    # Firecracker's newer clients pass it: petrel's --virtio-transport pci (its default)
    p = apilib.Petrel(workdir, ["--enable-pci"])
    try:
        assert p.client().get("/").status == 200
    finally:
        p.close()
    r = subprocess.run([str(apilib.petrel_bin()), "--enable-pci", "--virtio-transport", "mmio", "--api-sock",
                        str(workdir / "x.sock")], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--enable-pci contradicts --virtio-transport mmio" in r.stderr, r.stderr
    assert "--enable-pci" in subprocess.run([str(apilib.petrel_bin()), "--help"], capture_output=True,
                                            text=True, timeout=10).stdout
