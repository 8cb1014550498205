# SPDX-License-Identifier: Apache-2.0
"""A network's definition shared by the hosts of a cluster (docs/networks.md#how-it-fits-the-cluster):
the cluster agent defines a VM on the host it starts it on and undefines it on the host it
leaves, and a migration needs the network's digest the same on both hosts. A reservation in the
shared file that names the MAC alone is the user's: a VM with that MAC uses it and its define and
undefine leave the file (and the digest) as they were; one that names the VM is the VM's own and
goes with its undefine, so the host the VM left no longer has the shared definition. No KVM: no
VM starts (tests/cluster/test_cluster_net.py runs the whole of it under Pacemaker)."""
import pytest

import mgrlib
import netlib
from netlib import nat_def

why = netlib.missing()
pytestmark = pytest.mark.skipif(why is not None, reason=why or "")
MAC, IP = "52:54:00:5e:0c:01", "10.77.0.5"


def vm_doc(name):
    return {"boot-source": {"kernel_image_path": str(mgrlib.guest("counter"))},
            "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
            "network-interfaces": [{"iface_id": "eth0", "network": "default", "guest_mac": MAC}],
            "petrel": {"name": name}}


def digest(host):
    return host.info("default")["digest"]


def test_reservation_of_the_mac_survives_the_vms_undefine(host):
    st, body = host.define(nat_def(reservations=[{"mac": MAC, "ip": IP}]))
    assert st == 201, body
    shared = digest(host)
    st, body = host.api("POST", "/vms", vm_doc("web1"))
    assert st == 201, body
    assert host.api("GET", "/vms/web1")[1]["interfaces"][0]["ip"] == IP
    assert digest(host) == shared      # the define used the reservation as it is
    assert host.api("DELETE", "/vms/web1")[0] == 204
    assert digest(host) == shared      # and the undefine left it
    assert host.info("default")["definition"]["reservations"] == [{"mac": MAC, "ip": IP}]


def test_reservation_naming_the_vm_goes_with_its_undefine(host):
    st, body = host.define(nat_def(reservations=[{"vm": "web1", "mac": MAC, "ip": IP}]))
    assert st == 201, body
    shared = digest(host)
    st, body = host.api("POST", "/vms", vm_doc("web1"))
    assert st == 201, body
    assert host.api("GET", "/vms/web1")[1]["interfaces"][0]["ip"] == IP
    assert digest(host) == shared
    assert host.api("DELETE", "/vms/web1")[0] == 204
    # the VM's own reservation went with it: this host's copy differs from the shared file now
    assert "reservations" not in host.info("default")["definition"]
    assert digest(host) != shared
