# SPDX-License-Identifier: Apache-2.0
"""petreld's guards on a VM's tap (src/manager/net/guards.c, docs/networks.md#guards), for real:
the netdev-family nft table at a tap's ingress in a fresh namespace, forged frames written into the tap as
the guest would send them, the honest other side of the bridge watching what crosses (guardlib).
Each forged frame must be dropped and counted under its reason; the honest ones must pass."""
import os

import pytest

from guardlib import (BCAST, GUARDCTL, GUEST_MAC, GUEST_V4, GUEST_V6, PEER_MAC, PEER_V4, PEER_V6, Lab, arp,
                      icmp6, link_local, open_tap, run, udp4, udp6)
from nethelp import in_netns

LL = link_local(GUEST_MAC)
OTHER_MAC = "52:54:00:66:66:66"
REASONS = ("mac", "arp", "ipv4", "ipv6", "dhcp_server", "router_adv")


@pytest.fixture
def lab():
    if not GUARDCTL.exists():
        pytest.fail(f"{GUARDCTL} is not built (ninja -C build)")
    lab = Lab()
    yield lab
    lab.close()


def apply(lab, *extra, v4=(GUEST_V4,), v6=(GUEST_V6,)):
    args = ["apply", lab.tap, GUEST_MAC]
    for a in v4:
        args += ["--v4", a]
    for a in v6:
        args += ["--v6", a]
    lab.guardctl(*args, *extra)


def token():
    return b"TOKEN" + os.urandom(8)


# (name, reason or None for honest, frame builder taking the token)
FORGED = [
    ("source MAC", "mac", lambda t: udp4(OTHER_MAC, PEER_MAC, GUEST_V4, PEER_V4, 4000, 4000, t)),
    ("VLAN tag", "mac", lambda t: udp4(GUEST_MAC, PEER_MAC, GUEST_V4, PEER_V4, 4000, 4000, t, vlan=5)),
    ("IPv4 source", "ipv4", lambda t: udp4(GUEST_MAC, PEER_MAC, "10.9.0.99", PEER_V4, 4000, 4000, t)),
    ("IPv4 0.0.0.0 not DHCP", "ipv4", lambda t: udp4(GUEST_MAC, PEER_MAC, "0.0.0.0", PEER_V4, 4000, 4000, t)),
    ("IPv6 source", "ipv6", lambda t: udp6(GUEST_MAC, PEER_MAC, "fd00:9::99", PEER_V6, 4000, 4000, t)),
    ("IPv6 :: not ICMPv6", "ipv6", lambda t: udp6(GUEST_MAC, PEER_MAC, "::", PEER_V6, 4000, 4000, t)),
    ("other link-local", "ipv6", lambda t: udp6(GUEST_MAC, PEER_MAC, link_local(OTHER_MAC), PEER_V6, 4000, 4000, t)),
    ("ARP sender IP", "arp", lambda t: arp(GUEST_MAC, GUEST_MAC, "10.9.0.99", PEER_V4)[:-len(t)] + t),
    ("ARP sender MAC", "arp", lambda t: arp(GUEST_MAC, OTHER_MAC, GUEST_V4, PEER_V4)[:-len(t)] + t),
    ("DHCP offer", "dhcp_server", lambda t: udp4(GUEST_MAC, BCAST, GUEST_V4, "255.255.255.255", 67, 68, t)),
    ("DHCPv6 advertise", "dhcp_server", lambda t: udp6(GUEST_MAC, PEER_MAC, LL, link_local(PEER_MAC), 547, 546, t)),
    ("router advertisement", "router_adv",
     lambda t: icmp6(GUEST_MAC, "33:33:00:00:00:01", LL, "ff02::1", 134, b"\x40\0\x07\x08" + b"\0" * 8 + t)),
]

HONEST = [
    ("ARP request", lambda t: arp(GUEST_MAC, GUEST_MAC, GUEST_V4, PEER_V4)[:-len(t)] + t),
    ("ARP probe", lambda t: arp(GUEST_MAC, GUEST_MAC, "0.0.0.0", GUEST_V4)[:-len(t)] + t),
    ("IPv4", lambda t: udp4(GUEST_MAC, PEER_MAC, GUEST_V4, PEER_V4, 4000, 4000, t)),
    ("DHCP discover", lambda t: udp4(GUEST_MAC, BCAST, "0.0.0.0", "255.255.255.255", 68, 67, t)),
    ("IPv6", lambda t: udp6(GUEST_MAC, PEER_MAC, GUEST_V6, PEER_V6, 4000, 4000, t)),
    ("IPv6 link-local", lambda t: udp6(GUEST_MAC, PEER_MAC, LL, link_local(PEER_MAC), 4000, 4000, t)),
    ("DHCPv6 solicit", lambda t: udp6(GUEST_MAC, "33:33:00:01:00:02", LL, "ff02::1:2", 546, 547, t)),
    ("DAD from ::", lambda t: icmp6(GUEST_MAC, "33:33:ff:00:00:05", "::", "ff02::1:ff00:5", 135,
                                    bytes.fromhex("fd000009000000000000000000000005") + t)),
    ("router solicitation", lambda t: icmp6(GUEST_MAC, "33:33:00:00:00:02", LL, "ff02::2", 133, t)),
]


@pytest.mark.parametrize("name,reason,build", FORGED, ids=[f[0] for f in FORGED])
def test_forged_frame_is_dropped_and_counted(lab, name, reason, build):
    apply(lab)
    t = token()
    frame = build(t)
    assert lab.crosses(frame, t) is False, f"{name}: a forged frame crossed the bridge"
    c = lab.counts()
    assert c[reason] == 1, f"{name}: counted {c}"
    assert sum(c.values()) == 1, f"{name}: counted under another reason too: {c}"
    # the same frame crosses a bridge without guards: the test can tell
    lab.guardctl("remove", lab.tap)
    t2 = token()
    assert lab.crosses(build(t2), t2), f"{name}: did not cross even without guards"


@pytest.mark.parametrize("name,build", HONEST, ids=[h[0] for h in HONEST])
def test_honest_frame_passes(lab, name, build):
    apply(lab)
    t = token()
    assert lab.crosses(build(t), t), f"{name}: an honest frame was dropped"
    assert set(lab.counts().values()) == {0}


def test_set_addresses_changes_what_passes(lab):
    apply(lab)
    new4, new6 = "10.9.0.6", "fd00:9::6"
    lab.guardctl("set", lab.tap, "--v4", new4, "--v6", new6)
    frames = {
        "old v4": (udp4, GUEST_V4, PEER_V4, False), "new v4": (udp4, new4, PEER_V4, True),
        "old v6": (udp6, GUEST_V6, PEER_V6, False), "new v6": (udp6, new6, PEER_V6, True),
    }
    for name, (mk, src, dst, passes) in frames.items():
        t = token()
        assert lab.crosses(mk(GUEST_MAC, PEER_MAC, src, dst, 4000, 4000, t), t) is passes, name
    t = token()
    assert lab.crosses(arp(GUEST_MAC, GUEST_MAC, new4, PEER_V4)[:-len(t)] + t, t), "ARP from the new address"
    t = token()
    assert not lab.crosses(arp(GUEST_MAC, GUEST_MAC, GUEST_V4, PEER_V4)[:-len(t)] + t, t), "ARP from the old one"
    c = lab.counts()
    assert (c["ipv4"], c["ipv6"], c["arp"]) == (1, 1, 1), c
    # no addresses at all: only the DHCP client and the link-local pass
    lab.guardctl("set", lab.tap)
    t = token()
    assert not lab.crosses(udp4(GUEST_MAC, PEER_MAC, new4, PEER_V4, 4000, 4000, t), t)
    t = token()
    assert lab.crosses(udp6(GUEST_MAC, PEER_MAC, LL, link_local(PEER_MAC), 4000, 4000, t), t)


def test_set_addresses_without_guards_is_enoent(lab):
    r = lab.guardctl("set", lab.tap, "--v4", GUEST_V4, check=False)
    assert r.returncode == 3, r.stderr
    assert "has no guards" in r.stderr
    r = lab.guardctl("counts", lab.tap, check=False)
    assert r.returncode == 3, r.stderr


def test_off_passes_everything(lab):
    apply(lab)
    apply(lab, "--off")
    assert "petrel-guard" not in lab.nft("list", "tables").stdout
    for name, _reason, build in FORGED:
        t = token()
        assert lab.crosses(build(t), t), f"{name}: dropped with guards off"


def test_remove_leaves_no_table(lab):
    apply(lab)
    assert f"table netdev petrel-guard-{lab.tap}" in lab.nft("list", "tables").stdout
    lab.guardctl("remove", lab.tap)
    assert lab.nft("list", "tables").stdout.strip() == ""
    lab.guardctl("remove", lab.tap)   # none: still 0
    t = token()
    assert lab.crosses(udp4(OTHER_MAC, PEER_MAC, "10.9.0.99", PEER_V4, 4000, 4000, t), t)


def test_apply_twice_is_idempotent_and_keeps_counting(lab):
    apply(lab)
    t = token()
    assert not lab.crosses(udp4(GUEST_MAC, PEER_MAC, "10.9.0.99", PEER_V4, 1, 1, t), t)
    first = lab.nft("list", "table", "netdev", f"petrel-guard-{lab.tap}").stdout
    apply(lab)
    second = lab.nft("list", "table", "netdev", f"petrel-guard-{lab.tap}").stdout
    assert first == second
    assert lab.nft("list", "tables").stdout.count("petrel-guard") == 1
    assert lab.counts()["ipv4"] == 1
    t = token()
    assert not lab.crosses(udp4(GUEST_MAC, PEER_MAC, "10.9.0.99", PEER_V4, 1, 1, t), t)
    assert lab.counts()["ipv4"] == 2
    # a second apply with other addresses replaces the set, not adds to it
    apply(lab, v4=("10.9.0.7",), v6=())
    t = token()
    assert not lab.crosses(udp4(GUEST_MAC, PEER_MAC, GUEST_V4, PEER_V4, 1, 1, t), t)
    t = token()
    assert not lab.crosses(udp6(GUEST_MAC, PEER_MAC, GUEST_V6, PEER_V6, 1, 1, t), t)


def test_other_taps_are_not_guarded(lab):
    """The table matches its tap only: guards on another (absent) tap change nothing here."""
    lab.guardctl("apply", "pgother", GUEST_MAC, "--v4", GUEST_V4)
    t = token()
    assert lab.crosses(udp4(OTHER_MAC, PEER_MAC, "10.9.0.99", PEER_V4, 1, 1, t), t)


@pytest.mark.parametrize("args", [
    ("apply", "-bad", GUEST_MAC), ("remove", "a" * 16), ("apply", 'x"y', GUEST_MAC),
    ("apply", "x;y", GUEST_MAC), ("apply", "tap0", "01:00:5e:00:00:01"), ("remove", "a b"), ("counts", "x/y"),
])
def test_bad_arguments_are_refused_before_nft(lab, args):
    r = lab.guardctl(*args, check=False)
    assert r.returncode == 1, (args, r.stderr)
    assert "guards:" in r.stderr
    assert lab.nft("list", "tables").stdout.strip() == ""


def test_a_tap_made_after_its_guards_is_guarded(lab):
    """A netdev hook binds its device when it appears (Linux >= 6.16): guards applied before the tap
    exists, or kept over a tap deleted and made again, guard it."""
    if tuple(int(x) for x in os.uname().release.split(".")[:2]) < (6, 16):
        pytest.skip("netdev hooks of absent devices need Linux 6.16")
    os.close(lab.tap_fd)   # the tap is gone
    lab.tap_fd = None
    apply(lab)
    lab.tap_fd = in_netns(lab.ns, lambda: open_tap(lab.tap))
    run("ip", "-n", lab.ns, "link", "set", lab.tap, "master", "br0", "up")
    t = token()
    assert not lab.crosses(udp4(OTHER_MAC, PEER_MAC, GUEST_V4, PEER_V4, 1, 1, t), t)
    t = token()
    assert lab.crosses(udp4(GUEST_MAC, PEER_MAC, GUEST_V4, PEER_V4, 1, 1, t), t)
    assert lab.counts()["mac"] == 1
