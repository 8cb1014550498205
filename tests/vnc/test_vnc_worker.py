# SPDX-License-Identifier: Apache-2.0
"""The VNC server in a real worker (docs/display.md#vnc): a VM with a "display" section serves
its screen on vnc_socket from a thread under its own seccomp filter (kind vnc), with
libvncserver loaded for it alone; a headless VM maps no libvncserver. Hostile viewers (malformed
messages, huge cut text, a pointer flood) leave the worker and its guest running."""
import struct
import time

import pytest

import apilib
import rfblib


def start(tmp_path, display=True):
    p = apilib.Petrel(tmp_path)
    api = p.client()
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}).status == 204
    assert api.put("/boot-source", {"kernel_image_path": str(apilib.guest("idle"))}).status == 204
    sock = tmp_path / "vnc.sock"
    if display:
        # (check=False: PUT /display is petrel's, not in the API description yet)
        r = api.put("/display", {"vnc_socket": str(sock)}, check=False)
        assert r.status == 204, r
    assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
    p.expect("idle")
    return p, sock


def maps(pid):
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def thread_names(pid):
    import os
    names = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            names[f.read().strip()] = tid
    return names


def test_headless_vm_maps_no_vnc(tmp_path):
    p, sock = start(tmp_path, display=False)
    try:
        assert "libvncserver" not in maps(p.proc.pid)
        assert "petrel_vnc" not in thread_names(p.proc.pid)
        assert not sock.exists()
    finally:
        p.signal()
        p.wait()


def test_worker_serves_the_display(tmp_path):
    p, sock = start(tmp_path)
    try:
        assert "libvncserver" in maps(p.proc.pid)
        names = thread_names(p.proc.pid)
        assert "petrel_vnc" in names
        with open(f"/proc/{p.proc.pid}/task/{names['petrel_vnc']}/status") as f:
            status = f.read()
        assert "Seccomp:\t2" in status, status   # filtered (mode 2: filter)
        c = rfblib.connect_unix(sock).handshake()
        c.set_pixel_format_xrgb()
        c.set_encodings([0, rfblib.DESKTOP_SIZE, rfblib.QEMU_EXT_KEY])
        c.update()
        # the guest programmed no mode: the blank screen
        assert (c.width, c.height) == (640, 480) and not any(c.fb)
        assert c.qemu_keys
        c.key(ord("a"), True)
        c.key(ord("a"), False)
        c.qemu_key(ord("a"), 0x1e, True)
        c.pointer(10, 10, 1)
        # hostile viewers
        for bad in (b"\x07", b"\xff\x01" + b"\x00" * 10, b"\x06\x00\x00\x00\x7f\xff\xff\xff" + b"x" * 1000):
            rfblib.connect_unix(sock).handshake().send_last(bad)
        big = rfblib.connect_unix(sock).handshake()
        big.cut_text(b"y" * (900 << 10))
        flood = b"".join(struct.pack(">BBHH", 5, i & 1, i % 640, i % 480) for i in range(50000))
        big.send(flood)
        big.set_pixel_format_xrgb()
        big.set_encodings([0])
        big.update()
        big.close()
        c.update()
        c.close()
        time.sleep(0.5)
        assert p.proc.poll() is None, p.describe()
        assert "forbidden system call" not in p.err.text(), p.describe()
        # and the API still answers
        assert p.client().get("/").status == 200
    finally:
        p.signal()
        p.wait()
