"""Linux's own `bochs` DRM driver on petrel's bochs-display, seen over VNC (issue 56's proof;
docs/display.md#linux-on-the-screen).

Debian's cloud kernel (guest/) has no DRM at all, so this boots the generic kernel of the same
version (guest-generic/, scripts/fetch-guest-generic.sh: bochs.ko and the DRM modules under it)
with the same /init (scripts/guest-init), which loads them only when a bochs-display is on PCI.
The VM has a "display" section (800x600, the EDID's preferred mode) with a vnc_socket. With
petrel.display=1 /init reports the driver and framebuffer that took the device, writes a line
on tty1 and starts a shell there. At its console prompt this test, as a VNC client
(tests/vnc/rfblib.py) on the worker's socket:
  - takes a frame: 800x600 (the mode Linux chose from the EDID) and not blank (fbcon's text);
  - types `echo petrel-tty1-$((6*7)) >/dev/ttyS0` and Return as RFB key events (keysyms,
    Shift pressed for the shifted ones, petrel's US keymap): the PS/2 keyboard, Linux's atkbd,
    the VT, the shell, which writes `petrel-tty1-42` to the serial console (the arithmetic is
    the shell's: the typed text itself has no 42);
  - takes the frame again: the typed line was drawn (hundreds of pixels changed, across
    more than thirty character cells).

Needs /dev/kvm. One extra real boot (tests/linux/conftest.py EXTRA_BOOTS): run by
scripts/linux-extra.sh (scripts/nested-kvm.sh on a host where Linux boots take long).
Console in build/linux-display-boot.log.
"""
import os
import shutil
import tempfile
import time
from pathlib import Path

import apilib
import linuxguest
import linuxlib
import rfblib
from test_linux_e1000 import INITRD, VMLINUX, missing_generic_guest

ROOT = linuxguest.ROOT
PETREL = linuxguest.PETREL
LOG = ROOT / "build" / "linux-display-boot.log"
CMDLINE = [a for a in linuxguest.CMDLINE if not a.startswith("petrel.disk=")] + ["petrel.display=1"]
W, H = 800, 600
TYPED = "echo petrel-tty1-$((6*7)) >/dev/ttyS0"
ECHOED = "petrel-tty1-42"
SHIFTED = set('~!@#$%^&*()_+{}|:"<>?') | set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
XK_SHIFT_L, XK_RETURN = 0xFFE1, 0xFF0D
TYPE_TIMEOUT_S = float(os.environ.get("PETREL_LINUX_DISPLAY_TIMEOUT", 300))


def lit(frame):
    """Pixels that are not black (B, G, R, X per pixel)."""
    return sum(1 for i in range(0, len(frame), 4) if frame[i] | frame[i + 1] | frame[i + 2])


def changed(a, b, width):
    """(pixels that differ, the character cells (8x16) they touch)."""
    n, cells = 0, set()
    for i in range(0, min(len(a), len(b)), 4):
        if a[i:i + 3] != b[i:i + 3]:
            n += 1
            p = i // 4
            cells.add((p % width // 8, p // width // 16))
    return n, cells


def type_line(c, text):
    for ch in text:
        shift = ch in SHIFTED
        if shift:
            c.key(XK_SHIFT_L, True)
        c.key(ord(ch), True)
        c.key(ord(ch), False)
        if shift:
            c.key(XK_SHIFT_L, False)
        time.sleep(0.05)   # the PS/2 queue holds 64 bytes: let a slow guest take them
    c.key(XK_RETURN, True)
    c.key(XK_RETURN, False)


def test_linux_bochs_drm_fbcon_over_vnc_and_keys_to_a_shell():
    missing_generic_guest()
    assert PETREL.is_file() and os.access(PETREL, os.X_OK), f"{PETREL} not built (ninja -C build)"
    work = Path(tempfile.mkdtemp(prefix="petrel-linux-display-", dir="/tmp"))
    sock, vnc = work / "api.sock", work / "vnc.sock"
    LOG.parent.mkdir(parents=True, exist_ok=True)
    seen = {}
    start = time.time()

    def at_prompt(run):
        """The guest waits at its serial prompt, the shell on tty1 is up: look and type."""
        c = rfblib.connect_unix(vnc, timeout=60).handshake()
        try:
            c.set_pixel_format_xrgb()
            c.set_encodings([0, rfblib.DESKTOP_SIZE])
            c.update()
            seen["size"] = (c.width, c.height)
            before = bytes(c.fb)
            seen["lit"] = lit(before)
            type_line(c, TYPED)
            c.sock.settimeout(10)   # an update request with nothing changed waits for a change
            end = time.time() + TYPE_TIMEOUT_S
            while time.time() < end and not any(ECHOED in l for _, l in con.lines):
                con.pump(1.0)
            seen["echoed"] = any(ECHOED in l for _, l in con.lines)
            # the drawing: incremental updates until the frame stops changing
            last, end = before, time.time() + 60
            while time.time() < end:
                try:
                    c.update(incremental=True, timeout=5)
                except (rfblib.RFBError, OSError):
                    pass
                now = bytes(c.fb)
                n, cells = changed(before, now, c.width)
                if n and now == last:
                    break
                last = now
            seen["changed"], seen["cells"] = changed(before, bytes(c.fb), c.width)
        finally:
            c.close()

    try:
        with open(LOG, "wb") as log:
            argv = [str(PETREL), "--api-sock", str(sock), "--level", "Info"]
            proc, con = linuxlib.spawn(argv, log, cwd=ROOT)
            requests = [
                ("/boot-source", {"kernel_image_path": str(VMLINUX), "initrd_path": str(INITRD),
                                  "boot_args": " ".join(CMDLINE)}),
                ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 256}),
                ("/display", {"width": W, "height": H, "tablet": False, "vnc_socket": str(vnc)}, False),
                ("/actions", {"action_type": "InstanceStart"}),
            ]
            run = linuxlib.configure_and_run(apilib.Client(sock), proc, con, sock, requests, start,
                                             "hello-display", on_prompt=at_prompt)
        where = linuxlib.assert_healthy(run, proc, con, LOG)
        checks = {k: v for k, (_, v) in run.checks.items()}
        modules = checks.get("modules", "0/1").split("/")
        assert modules[0] == modules[1], f"not every module loaded (bochs.ko among them): {checks}" + where
        assert checks.get("display-driver") == "bochs-drm", f"the bochs DRM driver did not bind: {checks}" + where
        assert checks.get("display-fb", "none").startswith("bochs"), f"no bochs framebuffer: {checks}" + where
        assert run.echo == "hello-display", f"guest echoed {run.echo!r}" + where
        assert seen.get("size") == (W, H), f"the VNC frame is {seen.get('size')}, not the EDID's {W}x{H}" + where
        assert seen["lit"] > 300, f"the frame after boot is blank ({seen['lit']} pixels lit)" + where
        assert seen["echoed"], f"the line typed over VNC did not reach the shell on tty1 ({ECHOED!r} not on ttyS0)" + where
        assert seen["changed"] > 300 and len({x for x, _ in seen["cells"]}) > 30, \
            f"the typed line was not drawn: {seen['changed']} pixels in {len(seen['cells'])} cells changed" + where
        print(f"display: {seen['size']}, {seen['lit']} pixels lit after boot, {seen['changed']} changed by typing "
              f"({len(seen['cells'])} cells)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
