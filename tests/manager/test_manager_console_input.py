# SPDX-License-Identifier: Apache-2.0
"""Typing into a VM's serial console (console_input.c): POST /vms/NAME/console and petrelctl
console's input. Without KVM: bad requests, and the keys reaching the worker's stdin FIFO (an
unbooted petrel does not read it yet, so they wait there); under KVM: the serial test guest
echoes a typed line."""
import os
import signal
import subprocess
import time

import mgrlib


def read_fifo(path):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""
    finally:
        os.close(fd)


def test_keys_reach_the_worker_stdin_and_bad_input_is_refused():
    p = mgrlib.Petreld(jailer=False).start()
    workers = []
    try:
        for n in ("typed", "old", "off"):
            assert p.define(n)[0] == 201
        st, body = p.api("POST", "/vms/off/console", "x")
        assert st == 409 and "not running" in body["fault_message"]
        p.stop(signal.SIGKILL)
        workers = mgrlib.leave_workers(p, ["typed"], console_input=True)
        workers += mgrlib.leave_workers(p, ["old"])  # a worker without console input
        p.start()
        assert p.api("POST", "/vms/typed/console", "ls -l\n")[0] == 204
        assert p.api("POST", "/vms/typed/console", "")[0] == 400
        assert p.api("POST", "/vms/typed/console", "x" * 4097)[0] == 400
        assert p.api("PUT", "/vms/typed/console", "x")[0] == 405
        st, body = p.api("POST", "/vms/old/console", "x")
        assert st == 409 and "no console input" in body["fault_message"]
        fifo = p.state / "sock" / "typed.in"
        assert read_fifo(fifo) == b"ls -l\n"
        # petrelctl console types what it reads (here a pipe) and follows until Ctrl-].
        r = subprocess.run([str(mgrlib.PETRELCTL), "--socket", str(p.sock), "console", "typed"],
                           input=b"echo hi\n\x1dnot this", capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert read_fifo(fifo) == b"echo hi\n"
    finally:
        for w in workers:
            w.kill()
        p.close()


def test_a_typed_line_reaches_the_guest(petreld, kvm):
    p = petreld()
    assert p.define("tty", **{"boot-source": {"kernel_image_path": str(mgrlib.guest("serial")),
                                              "boot_args": "lines=1"}})[0] == 201
    assert p.api("POST", "/vms/tty/start")[0] == 200
    log = p.state / "logs" / "tty.worker.log"
    deadline = time.monotonic() + 60
    while b"READY" not in log.read_bytes():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    assert p.api("POST", "/vms/tty/console", "hello petreld\n")[0] == 204
    while b"got: hello petreld" not in log.read_bytes():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
