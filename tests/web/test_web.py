# SPDX-License-Identifier: Apache-2.0
"""petreld's web page without KVM: its files (and no others), the gate (sessions, CSRF,
Origin, Host, roles), logins, the console's WebSocket, and the page itself in headless Chromium:
the list is the API's, hostile text stays text, another origin cannot act, roles hold."""
import base64
import json
import os
import re
import shutil
import socket
import struct
import sys
import time

import pytest

import weblib
from weblib import raw, ws_read

BROWSER = ("Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: cors")


def session(p, extra=()):
    st, head, body = raw(p.sock, "GET", "/auth/session", headers=(*BROWSER, *extra))
    assert st == 200, body
    cookie = re.search(r"Set-Cookie: (petrel_session=[0-9a-f]{64})", head)
    return (cookie.group(1) if cookie else None), json.loads(body)


def test_static_files_and_nothing_else(web, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(weblib.DIST if weblib.DIST.is_dir() else tmp_path, site, dirs_exist_ok=True)
    (site / "index.html").write_text("<!doctype html><title>t</title>")
    (site / "assets").mkdir(exist_ok=True)
    (site / "assets" / "a.js").write_text("x=1")
    (site / ".secret").write_text("hidden")
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink(tmp_path / "outside.txt", site / "link.txt")
    p, _ = web(args=["--web-dir", str(site)])
    st, head, body = raw(p.sock, "GET", "/ui/")
    assert st == 200 and b"<title>t</title>" in body
    assert "Content-Type: text/html" in head and "Content-Security-Policy: default-src 'none'; script-src 'self'" in head
    assert "X-Content-Type-Options: nosniff" in head
    st, head, body = raw(p.sock, "GET", "/ui/assets/a.js")
    assert st == 200 and body == b"x=1" and "text/javascript" in head
    st, head, body = raw(p.sock, "HEAD", "/ui/assets/a.js")
    assert st == 200 and "Content-Length: 3" in head
    for bad in ["/ui/../outside.txt", "/ui/%2e%2e/outside.txt", "/ui/assets/..%2f..%2foutside.txt", "/ui/.secret",
                "/ui//etc/passwd", "/ui/%2fetc/passwd", "/ui/link.txt", "/ui/assets/", "/ui/a%00.js", "/ui/nope.js"]:
        st, _, body = raw(p.sock, "GET", bad)
        assert st == 404 and b"outside" not in body and b"hidden" not in body, bad
    st, head, _ = raw(p.sock, "GET", "/ui")
    assert st == 302 and "Location: /ui/" in head
    st, _, _ = raw(p.sock, "POST", "/ui/index.html")
    assert st == 405
    # A browser opening / goes to the page; a program still gets the API's answer.
    st, head, _ = raw(p.sock, "GET", "/", headers=("Sec-Fetch-Mode: navigate",))
    assert st == 302
    assert p.api("GET", "/")[1]["service"] == "petreld"


def test_the_gate(web, tmp_path):
    users = weblib.users_file(tmp_path / "users", {"ro": ("readonly", "pw-ro")})
    p, _ = web(args=["--users", str(users)])
    assert p.define("vm1")[0] == 201
    # A program on the socket: as before.
    assert p.api("PUT", "/vms/vm1/resources", {"cpu_weight": 300})[0] == 200
    # A browser: a session first.
    st, _, body = raw(p.sock, "GET", "/vms", headers=BROWSER)
    assert st == 401
    cookie, s = session(p)
    assert cookie and s["role"] == "admin" and s["user"] == "local" and len(s["csrf"]) == 64
    ck = f"Cookie: {cookie}"
    assert raw(p.sock, "GET", "/vms", headers=(*BROWSER, ck))[0] == 200
    body = json.dumps({"cpu_weight": 250}).encode()
    # Changes need the token, from the page's origin, on a loopback Host.
    assert raw(p.sock, "PUT", "/vms/vm1/resources", headers=(*BROWSER, ck), body=body)[0] == 403
    assert raw(p.sock, "PUT", "/vms/vm1/resources", headers=(*BROWSER, ck, "X-CSRF-Token: " + "0" * 64), body=body)[0] == 403
    tok = f"X-CSRF-Token: {s['csrf']}"
    assert raw(p.sock, "PUT", "/vms/vm1/resources", headers=(*BROWSER, ck, tok), body=body)[0] == 200
    assert raw(p.sock, "PUT", "/vms/vm1/resources", headers=(ck, tok, "Origin: http://127.0.0.1:1"), body=body)[0] == 403
    assert raw(p.sock, "PUT", "/vms/vm1/resources", headers=(ck, tok, "Origin: http://localhost"), body=body)[0] == 200
    assert raw(p.sock, "PUT", "/vms/vm1/resources", headers=(ck, tok, "Sec-Fetch-Site: same-site"), body=body)[0] == 403
    for host in ("Host: evil.example", "Host: 127.0.0.1.evil.example:80", "Host: 10.0.0.1"):
        assert raw(p.sock, "GET", "/vms", headers=(*BROWSER, ck, host))[0] == 403, host
        assert raw(p.sock, "GET", "/auth/session", headers=(*BROWSER, host))[0] == 403, host
    for host in ("Host: localhost:8080", "Host: 127.0.0.1:9", "Host: [::1]:80"):
        assert raw(p.sock, "GET", "/vms", headers=(*BROWSER, ck, host))[0] == 200, host
    assert p.api("GET", "/vms/vm1")[1]["resources"]["cpu_weight"] == 250
    # readonly reads, changes nothing, may log out.
    st, head, body = raw(p.sock, "POST", "/auth/login", headers=BROWSER, body=b'{"user": "ro", "password": "pw-ro"}')
    assert st == 200, body
    ro = json.loads(body)
    rck = "Cookie: " + re.search(r"(petrel_session=[0-9a-f]{64})", head).group(1)
    assert ro["role"] == "readonly"
    assert raw(p.sock, "GET", "/vms/vm1", headers=(*BROWSER, rck))[0] == 200
    st, _, body = raw(p.sock, "PUT", "/vms/vm1/resources", headers=(*BROWSER, rck, f"X-CSRF-Token: {ro['csrf']}"), body=body)
    assert st == 403 and b"read-only" in body
    assert raw(p.sock, "POST", "/vms/vm1/start", headers=(*BROWSER, rck, f"X-CSRF-Token: {ro['csrf']}"))[0] == 403
    assert raw(p.sock, "DELETE", "/vms/vm1", headers=(*BROWSER, rck, f"X-CSRF-Token: {ro['csrf']}"))[0] == 403
    st, head, _ = raw(p.sock, "POST", "/auth/logout", headers=(*BROWSER, rck, f"X-CSRF-Token: {ro['csrf']}"))
    assert st == 204 and "Max-Age=0" in head
    assert raw(p.sock, "GET", "/vms", headers=(*BROWSER, rck))[0] == 401
    # Logins: a wrong password, an unknown user, the same answer; the cookie's attributes.
    for who in (b'{"user": "ro", "password": "nope"}', b'{"user": "nobody", "password": "pw-ro"}'):
        t0 = time.monotonic()
        st, _, body = raw(p.sock, "POST", "/auth/login", headers=BROWSER, body=who)
        assert st == 401 and b"wrong user or password" in body and time.monotonic() - t0 >= 0.9
    st, head, _ = raw(p.sock, "POST", "/auth/login", headers=BROWSER, body=b'{"user": "ro", "password": "pw-ro"}')
    assert re.search(r"Set-Cookie: petrel_session=[0-9a-f]{64}; Path=/; HttpOnly; Secure; SameSite=Strict", head)
    assert raw(p.sock, "POST", "/auth/login", headers=(*BROWSER, "Origin: http://127.0.0.1:1"), body=b'{"user": "ro", "password": "pw-ro"}')[0] == 403
    assert p.api("GET", "/vms/vm1")[0] == 200


def test_web_login_on_the_socket_too(web, tmp_path):
    users = weblib.users_file(tmp_path / "users", {"adm": ("admin", "pw")})
    p, _ = web(args=["--users", str(users), "--web-login"])
    st, _, body = raw(p.sock, "GET", "/auth/session", headers=BROWSER)
    assert st == 401 and json.loads(body)["login"] is True
    st, _, body = raw(p.sock, "POST", "/auth/login", headers=BROWSER, body=b'{"user": "adm", "password": "pw"}')
    assert st == 200 and json.loads(body)["role"] == "admin"
    assert p.api("GET", "/vms")[0] == 200  # programs are not browsers


def ws_handshake(sock_path, path, headers):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(sock_path))
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n")
    s.sendall(req.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, head
        head += chunk
    return s, key, head.decode()


def ws_frame(opcode, payload, mask=True):
    b = bytes([0x80 | opcode])
    n = len(payload)
    ln = bytes([n | (0x80 if mask else 0)]) if n < 126 else bytes([126 | (0x80 if mask else 0)]) + struct.pack(">H", n)
    if not mask:
        return b + ln + payload
    k = os.urandom(4)
    return b + ln + k + bytes(c ^ k[i % 4] for i, c in enumerate(payload))


def test_console_websocket(web):
    p, _ = web()
    assert p.define("c1")[0] == 201
    procs = weblib.mgrlib.leave_workers(p, ["c1"], console_input=True)
    try:
        p.stop()
        p.start()  # adopts the worker: a running VM without KVM
        log = p.state / "logs" / "c1.worker.log"
        log.write_bytes(b"boot line one\r\n")
        cookie, s = session(p)
        br = (*BROWSER, f"Cookie: {cookie}", "Origin: http://localhost")
        # No token in the query: refused; another origin: refused.
        _, _, head = ws_handshake(p.sock, "/vms/c1/console", br)
        assert head.startswith("HTTP/1.1 403")
        _, _, head = ws_handshake(p.sock, f"/vms/c1/console?csrf={s['csrf']}",
                                  (*BROWSER, f"Cookie: {cookie}", "Origin: http://127.0.0.1:1"))
        assert head.startswith("HTTP/1.1 403")
        ws, key, head = ws_handshake(p.sock, f"/vms/c1/console?csrf={s['csrf']}", br)
        assert head.startswith("HTTP/1.1 101"), head
        import hashlib
        want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert f"Sec-WebSocket-Accept: {want}" in head
        op, data = ws_read(ws)
        assert op == 2 and b"boot line one" in data
        with open(log, "ab") as f:
            f.write(b"<b>later</b>\r\n")
        op, data = ws_read(ws)
        assert op == 2 and data == b"<b>later</b>\r\n"
        ws.sendall(ws_frame(9, b"hi"))
        assert ws_read(ws) == (10, b"hi")
        # Typed keys reach the worker's console input (the FIFO that is its stdin).
        ws.sendall(ws_frame(1, b"typed-keys\n"))
        fifo = os.open(p.state / "sock" / "c1.in", os.O_RDONLY | os.O_NONBLOCK)
        got = b""
        deadline = time.monotonic() + 10
        while b"typed-keys" not in got and time.monotonic() < deadline:
            try:
                got += os.read(fifo, 4096)
            except BlockingIOError:
                time.sleep(0.05)
        os.close(fifo)
        assert b"typed-keys" in got
        # An unmasked frame from a client breaks the protocol: the server closes.
        ws.sendall(ws_frame(1, b"x", mask=False))
        op, _ = ws_read(ws)
        assert op == 8
        ws.close()
        # A program (no browser headers) may use the WebSocket too; the API still answers.
        ws2, _, head = ws_handshake(p.sock, "/vms/c1/console", ())
        assert head.startswith("HTTP/1.1 101")
        ws2.sendall(ws_frame(8, struct.pack(">H", 1000)))
        ops = []
        while 8 not in ops:  # the backlog, then the close's answer
            op, _ = ws_read(ws2)
            ops.append(op)
        assert ops[-1] == 8
        ws2.close()
        assert p.api("GET", "/vms/c1")[0] == 200
    finally:
        for pr in procs:
            pr.kill()


def test_page_list_matches_the_api_and_hostile_text_stays_text(web, browser_ok, tmp_path):
    p, fwd = web()
    hostile = '<img src=x onerror=window.__xss=1>'
    disk = tmp_path / f"{hostile}.img"
    disk.write_bytes(b"\0" * 4096)
    assert p.define("web-a")[0] == 201
    assert p.define("web-b", **{"machine-config": {"vcpu_count": 2, "mem_size_mib": 64}})[0] == 201
    assert p.define("hostile", **{"drives": [{"drive_id": "root", "path_on_host": str(disk), "is_root_device": True,
                                               "is_read_only": True}]})[0] == 201
    # A firmware VM (defined, never started: no KVM needed): its devices tab shows the firmware
    # and the boot order, a kernel VM's its kernel.
    seabios = "/usr/share/seabios/bios-256k.bin"
    firmware = "seabios" if os.path.exists(seabios) else str(tmp_path / "fw.bin")
    if firmware != "seabios":
        (tmp_path / "fw.bin").write_bytes(b"\0" * 65536)
    fw_disks = []
    for drive_id, index in (("data", 1), ("system", 0), ("scratch", None)):
        (tmp_path / f"{drive_id}.img").write_bytes(b"\0" * 4096)
        fw_disks.append({"drive_id": drive_id, "path_on_host": str(tmp_path / f"{drive_id}.img"), "is_root_device": False,
                         "is_read_only": False, **({"boot_index": index} if index is not None else {})})
    assert p.api("POST", "/vms", {"boot-source": {"firmware": firmware}, "drives": fw_disks, "petrel": {"name": "web-fw"},
                                  "machine-config": {"vcpu_count": 1, "mem_size_mib": 256,
                                                     "uuid": "663cf08f-c355-4ee7-ac5a-e441a60df051"}})[0] == 201
    # A UEFI VM's devices tab shows its variables file too (made by petreld at define time).
    uefi = os.path.exists("/usr/share/OVMF/OVMF_VARS_4M.fd") and os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd")
    if uefi:
        assert p.api("POST", "/vms", {"boot-source": {"firmware": "ovmf"}, "petrel": {"name": "web-uefi"},
                                      "machine-config": {"vcpu_count": 1, "mem_size_mib": 256}})[0] == 201
    # A name with markup is refused by petreld, so never listed.
    assert p.define("<b>x</b>")[0] == 400
    res = weblib.browser("list", fwd.url, hostile_vm="hostile", hostile_text=hostile,
                         devices=["web-fw", "web-a"] + (["web-uefi"] if uefi else []))
    fw, kernel = res["devices"]["web-fw"], res["devices"]["web-a"]
    assert fw["boot"] == {"Firmware": firmware, "Boot order": "system, data, then the rest"}, fw
    if uefi:
        assert res["devices"]["web-uefi"]["boot"] == {"Firmware": "ovmf", "Variables": str(p.defs / "web-uefi.vars"),
                                                      "Boot order": "the firmware's own (every disk)"}
    assert [(d[0], d[-1]) for d in fw["disks"]] == [("data", "1"), ("system", "0"), ("scratch", "")], fw
    assert kernel["boot"] == {"Kernel": str(weblib.mgrlib.guest("counter"))}, kernel
    assert "Firmware" not in kernel["text"]
    api = {v["name"]: v for v in p.api("GET", "/vms")[1]}
    assert sorted(r["name"] for r in res["rows"]) == sorted(api)
    for r in res["rows"]:
        v = api[r["name"]]
        assert r["state"] == v["state"]
        assert r["vcpus"] == str(v["machine-config"]["vcpu_count"])
        assert r["mem"] == f"{v['machine-config']['mem_size_mib']} MiB"
    assert "page_errors" not in res, res


def test_another_origin_cannot_act(web, browser_ok):
    p, fwd = web()
    assert p.define("target")[0] == 201
    res = weblib.browser("csrf", fwd.url, vm="target", kernel=str(weblib.mgrlib.guest("counter")))
    names = {v["name"] for v in p.api("GET", "/vms")[1]}
    assert names == {"target"}, (names, res)  # neither "pwned" nor "pwned2" was defined
    assert p.api("GET", "/vms/target")[1]["resources"]["cpu_weight"] == 200  # the page's own change only


def test_logins_and_roles_in_the_page(web, browser_ok, tmp_path):
    users = weblib.users_file(tmp_path / "users", {"ann": ("admin", "ann-pw"), "rob": ("readonly", "rob-pw")})
    p, fwd = web(args=["--users", str(users), "--web-login"])
    assert p.define("r1")[0] == 201
    ro = weblib.browser("login", fwd.url, user="rob", password="rob-pw", vm="r1")
    assert ro["role"] == "readonly" and ro["buttons"] == 0 and ro["put"] == 403
    assert ro["cookie"] == {"httpOnly": True, "secure": True, "sameSite": "Strict"}
    assert ro["cookie_seen_by_script"] is False and ro["after_logout"] == 401
    adm = weblib.browser("login", fwd.url, user="ann", password="ann-pw", vm="r1")
    assert adm["role"] == "admin" and adm["buttons"] >= 1 and adm["put"] == 200
    assert p.api("GET", "/vms/r1")[1]["resources"]["cpu_weight"] == 150


def test_console_in_the_page(web, browser_ok):
    p, fwd = web()
    assert p.define("con")[0] == 201
    procs = weblib.mgrlib.leave_workers(p, ["con"], console_input=True)
    try:
        p.stop()
        p.start()
        (p.state / "logs" / "con.worker.log").write_bytes(b"Welcome <script>window.__xss=1</script> to the guest\r\n")
        res = weblib.browser("console", fwd.url, vm="con", expect="Welcome <script>window.__xss=1</script> to the guest",
                             type="echo typed-in-browser")
        assert res["injected"] == 0
        fifo = os.open(p.state / "sock" / "con.in", os.O_RDONLY | os.O_NONBLOCK)
        got = b""
        deadline = time.monotonic() + 10
        while b"typed-in-browser" not in got and time.monotonic() < deadline:
            try:
                got += os.read(fifo, 4096)
            except BlockingIOError:
                time.sleep(0.05)
        os.close(fifo)
        assert b"echo typed-in-browser\r" in got
    finally:
        for pr in procs:
            pr.kill()


def test_phone_sized_screen(web, browser_ok):
    """390x844, a phone: the list becomes cards, and neither it nor a VM's overview (charts,
    status) nor its console scrolls sideways, even with a VM name of the longest kind."""
    p, fwd = web()
    long_name = "a-vm-with-a-name-as-long-as-petreld-allows-0123456789-abcdefghij"
    assert len(long_name) == 64 and p.define(long_name)[0] == 201
    assert p.define("web-b", **{"machine-config": {"vcpu_count": 2, "mem_size_mib": 2048}})[0] == 201
    res = weblib.browser("phone", fwd.url, vm=long_name, viewport={"width": 390, "height": 844})
    assert res["list"] <= 0 and res["detail"] <= 0 and res["console"] <= 0, res
    assert len(res["cards"]) == 2 and all(w <= 390 for w in res["cards"]), res
    assert "page_errors" not in res, res


def test_networks_in_the_page(browser_ok, tmp_path):
    """The Networks list (#/networks) against the API, an admin's start and destroy buttons, a
    readonly user's none. petreld runs in network namespaces of its own (tests/net/netlib.py:
    it makes bridges, nft tables and dnsmasqs), its socket forwarded to the browser as ever; a
    guest namespace gets a real lease. Root, nft and dnsmasq; no KVM."""
    sys.path.insert(0, str(weblib.REPO / "tests" / "net"))
    import netlib
    why = netlib.missing()
    if why:
        pytest.skip(why)
    users = weblib.users_file(tmp_path / "users", {"ann": ("admin", "ann-pw"), "rob": ("readonly", "rob-pw")})
    host = netlib.Host(args=["--web-dir", str(weblib.DIST), "--users", str(users), "--web-login"])
    fwd = weblib.Forwarder(host.pd.sock)
    ev = weblib.mgrlib.Events(host.pd.sock)
    try:
        host.start_net(netlib.nat_def("web-nat", "10.84.0", autostart=True))
        assert host.define({"name": "web-iso", "kind": "isolated", "ipv4": {"address": "10.85.0.1", "prefix": 24,
                            "dhcp_start": "10.85.0.10", "dhcp_end": "10.85.0.20"}})[0] == 201
        netlib.Guest(host, "pn-web-nat", "g").dhcp()
        # a VM on the network (defined, not started): its devices tab shows the network and its address
        st, body = host.api("POST", "/vms", {"boot-source": {"firmware": "seabios"}, "petrel": {"name": "web-vm"},
                                             "network-interfaces": [{"iface_id": "eth0", "network": "web-nat"}]})
        assert st == 201, body
        nic = host.api("GET", "/vms/web-vm")[1]["interfaces"][0]
        assert nic["network"] == "web-nat" and nic["ip"].startswith("10.84.0.") and nic["mac"], nic
        dev = weblib.browser("list", fwd.url, user="rob", password="rob-pw", devices=["web-vm"])["devices"]["web-vm"]
        assert f"eth0\tweb-nat\t\t{nic['mac']}\t{nic['ip']}" in dev["text"], dev["text"]
        ro = weblib.browser("networks", fwd.url, user="rob", password="rob-pw")
        assert ro["buttons"] == [] and ro["nav_on"] == "networks", ro
        api = {n["name"]: n for n in host.api("GET", "/networks")[1]}
        assert api["web-nat"]["leases"] == 1
        want = [{"name": n["name"], "kind": n["kind"], "bridge": n["bridge"], "subnet": n["subnet"],
                 "active": "yes" if n["active"] else "no", "autostart": "yes" if n["autostart"] else "no",
                 "vms": str(n["vms"]), "leases": str(n["leases"])} for n in sorted(api.values(), key=lambda n: n["name"])]
        assert ro["rows"] == want, (ro["rows"], want)
        adm = weblib.browser("networks", fwd.url, user="ann", password="ann-pw", start="web-iso", destroy="web-nat")
        assert adm["buttons"] == ["start", "destroy"], adm   # web-iso inactive, web-nat active
        assert adm["started"] is True and adm["destroyed"] is True, adm
        assert [(r["name"], r["active"]) for r in adm["rows_after"]] == [("web-iso", "yes"), ("web-nat", "no")]
        assert "page_errors" not in adm, adm
        assert "pn-web-iso" in netlib.links(host.ns) and "pn-web-nat" not in netlib.links(host.ns)
        ev.wait("web-iso", "network started", key="network")
        ev.wait("web-nat", "network destroyed", key="network")
    finally:
        ev.close()
        fwd.close()
        host.close()


def test_images_and_the_new_vm_form(web, browser_ok, tmp_path):
    """The Images list (#/images) against the API, and the "New VM" form: a VM made from an image
    with a key, a password (hashed by petreld: the clear one is in no file) and a disk size; a
    count of them; a refusal shown in the form; an image removed; a readonly user's page has
    neither buttons nor the form. No KVM: the VMs are defined, not started."""
    users = weblib.users_file(tmp_path / "users", {"ann": ("admin", "ann-pw"), "rob": ("readonly", "rob-pw")})
    p, fwd = web(args=["--users", str(users), "--web-login"])
    for name, size in (("deb", 3 << 30), ("spare", 1 << 30)):
        f = tmp_path / f"{name}.raw"
        with open(f, "wb") as fh:
            fh.truncate(size)
        assert p.api("POST", "/images", {"name": name, "path": str(f)})[0] == 201
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ann@desk"
    res = weblib.browser("images", fwd.url, user="ann", password="ann-pw",
                         newvm={"image": "deb", "name": "form-vm", "vcpus": 2, "memory_mib": 768, "disk_size_gib": 5,
                                "ssh_key": f"# mine\n{key}\n", "password": "pw in clear", "boot": "seabios",
                                "start": False})
    assert res["nav_on"] == "images" and res["chosen"] == "deb", res
    assert res["rows"] == [{"name": "deb", "format": "raw", "size": "3.0 GiB", "vms": "—"},
                           {"name": "spare", "format": "raw", "size": "1.0 GiB", "vms": "—"}], res["rows"]
    assert res["buttons"] == ["new", "remove", "new", "remove"], res
    assert res["sent"] == {"name": "form-vm", "image": "deb", "vcpus": 2, "memory_mib": 768, "count": 1, "boot": "seabios",
                           "start": False, "disk_size_gib": 5, "ssh_authorized_keys": [key], "password": "pw in clear",
                           "user": "debian"}, res["sent"]
    assert res["detail"] == "form-vm" and res["hash"] == "#/vm/form-vm", res
    doc = p.api("GET", "/vms/form-vm/definition")[1]
    assert doc["machine-config"] == {"vcpu_count": 2, "mem_size_mib": 768}
    assert doc["boot-source"] == {"firmware": "seabios"}
    user = doc["petrel"]["cloud-init"]["users"][0]
    assert user["ssh_authorized_keys"] == [key] and user["passwd"].startswith("$y$") and user["name"] == "debian"
    assert all(b"pw in clear" not in f.read_bytes() for f in p.root.rglob("*") if f.is_file() and f.stat().st_size < 1 << 24)
    # a count: NAME-1, NAME-2, then the list; a name taken: the refusal in the form
    res = weblib.browser("images", fwd.url, user="ann", password="ann-pw", remove="spare",
                         newvm={"image": "deb", "name": "many", "count": 2, "ssh_key": key, "start": False})
    assert res["hash"] == "#/" and {"many-1", "many-2", "form-vm"} <= {r["name"] for r in res["vm_rows"]}, res
    assert [r["name"] for r in res["rows_after"]] == ["deb"], res
    assert sorted(res["rows_after"][0]["vms"].split(", ")) == ["form-vm", "many-1", "many-2"], res
    assert p.api("GET", "/images")[1][0]["name"] == "deb" and len(p.api("GET", "/images")[1]) == 1
    res = weblib.browser("images", fwd.url, user="ann", password="ann-pw",
                         newvm={"image": "deb", "name": "form-vm", "fails": True})
    assert "exists already" in res["error"] and res["still_form"], res
    assert "page_errors" not in res, res
    ro = weblib.browser("images", fwd.url, user="rob", password="rob-pw")
    assert ro["buttons"] == [] and len(ro["rows"]) == 1, ro


def test_backup_jobs_in_the_page(web, browser_ok, tmp_path):
    """The Backups view (#/backups) against the API: each job's VMs, schedule, retention, last
    run with its result per VM and next run; "Run now" (the VM is not running: the run fails and
    the row says why); a job removed; a readonly user's rows have no buttons. No KVM."""
    users = weblib.users_file(tmp_path / "users", {"ann": ("admin", "ann-pw"), "rob": ("readonly", "rob-pw")})
    clock = tmp_path / "clock"
    clock.write_text("1798761600")   # 2027-01-01 00:00 UTC
    p, fwd = web(args=["--users", str(users), "--web-login", "--test-clock", str(clock)])
    assert p.define("db1")[0] == 201
    for job in ({"id": "nightly", "vms": ["db1"], "schedule": "*-*-* 03:00 UTC", "retention": {"keep-daily": 7, "keep-weekly": 4}},
                {"id": "weekly", "vms": "all", "schedule": "Sun 04:00 UTC"}):
        assert p.api("POST", "/backup-jobs", job)[0] == 201
    # two members of a chain as petreld writes their meta.json (their files left out: the restore
    # of one fails, and the page says why)
    members = p.root / "snap" / "db1.backups"
    for name, meta in (("b1", {"mode": "full", "chain_id": "api:b1", "consistency": "filesystem", "frozen_ms": 12}),
                       ("b2", {"mode": "incremental", "parent": "b1", "chain_id": "api:b1", "consistency": "crash"})):
        (members / name).mkdir(parents=True)
        (members / name / "meta.json").write_text(json.dumps({"name": name, "created": 1798761600 + len(name), **meta}))
    assert [b["name"] for b in p.api("GET", "/vms/db1/backups")[1]] == ["b1", "b2"]
    res = weblib.browser("backups", fwd.url, user="ann", password="ann-pw", run="nightly", remove="weekly",
                         restore="db1/b2")
    assert res["nav_on"] == "backups", res
    rows = {r["name"]: r for r in res["rows"]}
    assert rows["nightly"]["vms"] == "db1" and rows["nightly"]["schedule"] == "*-*-* 03:00 UTC"
    assert rows["nightly"]["retention"] == "daily 7, weekly 4" and rows["nightly"]["last"] == "—"
    assert rows["weekly"]["vms"] == "all running" and rows["weekly"]["retention"] == "keep all"
    assert rows["nightly"]["next"] != "—"
    assert res["buttons"] == ["run", "remove", "run", "remove"], res
    after = {r["name"]: r for r in res["rows_after_run"]}
    assert after["nightly"]["result"].startswith("failed") and "not running" in after["nightly"]["result"], after
    assert [r["name"] for r in res["rows_after"]] == ["nightly"], res
    assert p.api("GET", "/backup-jobs/weekly")[0] == 404
    # every VM's backups, newest first, with their chain and consistency; restore asked for b2
    assert res["vm_rows"] == [
        {"vm": "db1", "name": "b2", "chain": "incremental on b1", "consistency": "crash"},
        {"vm": "db1", "name": "b1", "chain": "full", "consistency": "filesystem, frozen 12 ms"}], res
    assert res["restore_buttons"] == ["b2", "b1"], res
    assert res["restore_toast"].startswith("db1: restore from b2 failed:"), res
    assert "page_errors" not in res, res
    ro = weblib.browser("backups", fwd.url, user="rob", password="rob-pw")
    assert ro["buttons"] == [] and len(ro["rows"]) == 1 and ro["restore_buttons"] == [], ro
    assert len(ro["vm_rows"]) == 2, ro
