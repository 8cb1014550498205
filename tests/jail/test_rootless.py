# SPDX-License-Identifier: Apache-2.0
"""petrel-jailer --rootless: the jail built by a caller without root, through a user namespace.

The test runner is root only to play the unprivileged caller: each jailer runs as uid/gid
USER (no passwd entry needed) with no supplementary groups, in a base directory USER owns.
From the host the tests check the jailed petrel: its user, mount and pid namespaces, its id
maps, its capabilities (none), its root (the jail), its mounts, and that the API answers.
A host that refuses user namespaces is made by a user namespace whose own
max_user_namespaces is 0 (the limit is per user namespace: nothing outside it changes)."""
import os
import stat
import subprocess
from pathlib import Path

import pytest

import jaillib

USER = 23456          # the unprivileged caller, on the host
INSIDE = 1000         # --uid/--gid: what the caller is in the jail's user namespace
API_ARGS = ["--api-sock", "/run/api.sock"]


def userns_works():
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "-U", "true"], user=USER, group=USER, extra_groups=[],
                       capture_output=True)
    return r.returncode == 0


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="root plays the unprivileged caller"),
    pytest.mark.skipif(not jaillib.JAILER.exists(), reason=f"{jaillib.JAILER} not built"),
    pytest.mark.skipif(not userns_works(), reason="no unprivileged user namespaces here"),
]


@pytest.fixture
def base():
    d = jaillib.short_tmpdir("petrel-rl-")
    os.chown(d, USER, USER)
    yield d
    jaillib.shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def jails(base):
    # Depends on base so that it is torn down first: close() finds petrel by its pid file.
    started = []
    yield started
    for j in started:
        j.close()


def start(jails, base, jail_id, args, uid=INSIDE, gid=INSIDE, prefix=(), parent_cgroup=None):
    j = jaillib.Jail(base, jail_id, args=["--rootless", *args], petrel_args=API_ARGS,
                     uid=uid, gid=gid, user=USER, prefix=prefix, parent_cgroup=parent_cgroup)
    jails.append(j)
    return j.start()


def run_as_user(*cmd):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=30,
                          user=USER, group=USER, extra_groups=[])


def status_fields(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.split()
    return out


def errors(text):
    """The jailer's lines but its notes (and petrel's log lines)."""
    return [ln for ln in text.splitlines()
            if ln.startswith("petrel-jailer: ") and not ln.startswith("petrel-jailer: note:")]


def check_unprivileged(pid, uid_map, gid_map):
    st = status_fields(pid)
    assert st["Uid"] == [str(USER)] * 4 and st["Gid"] == [str(USER)] * 4
    assert st["Groups"] == []
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(st[cap][0], 16) == 0, (cap, st[cap])
    assert st["NoNewPrivs"] == ["1"]
    assert Path(f"/proc/{pid}/uid_map").read_text().split() == uid_map
    assert Path(f"/proc/{pid}/gid_map").read_text().split() == gid_map
    assert Path(f"/proc/{pid}/setgroups").read_text().strip() == "deny"
    for ns in ("user", "mnt"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")


def check_jailed(j, pid):
    # Its root is the jail, and only the jail's mounts are there.
    r = os.stat(f"/proc/{pid}/root")
    assert (r.st_dev, r.st_ino) == (os.stat(j.root).st_dev, os.stat(j.root).st_ino)
    mounts = {}
    for line in Path(f"/proc/{pid}/mounts").read_text().splitlines():
        _, where, fstype, opts = line.split()[:4]
        mounts[where] = (fstype, opts.split(","))
        if where == "/":
            assert "nosuid" in mounts[where][1], line
        elif where == "/dev":
            assert fstype == "tmpfs" and {"ro", "nosuid", "nodev", "noexec"} <= set(mounts[where][1]), line
        elif where.startswith("/dev/"):
            assert fstype == "devtmpfs" and {"nosuid", "noexec"} <= set(mounts[where][1]), line
        else:
            assert where.startswith(("/lib", "/usr/lib")) and "ro" in mounts[where][1], line
    assert {"/dev/null", "/dev/urandom"} <= set(mounts)
    for name, rdev in (("null", os.makedev(1, 3)), ("urandom", os.makedev(1, 9))):
        s = os.stat(f"/proc/{pid}/root/dev/{name}")
        assert stat.S_ISCHR(s.st_mode) and s.st_rdev == rdev, name
    assert Path(f"/proc/{pid}/environ").read_bytes() == b""
    # Everything in the jail is the caller's (no chown, no mknod needed).
    for p in (j.root, j.root / "run", j.root / "petrel", j.root / "run" / "api.sock"):
        assert os.stat(p).st_uid == USER, p


def test_rootless_petrel_runs_jailed_in_new_user_mount_pid_namespaces(jails, base):
    j = start(jails, base, "rl-1", ["--new-pid-ns"])
    sock = j.root / "run" / "api.sock"
    jaillib.wait_api(sock, j.proc)
    status, body = jaillib.http_get(sock)
    assert status == 200 and b'"id":"rl-1"' in body
    pid = j.petrel_pid()
    assert pid != j.proc.pid
    check_unprivileged(pid, ["1000", str(USER), "1"], ["1000", str(USER), "1"])
    st = status_fields(pid)
    assert st["NSpid"] == [str(pid), "1"]
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    # The pid namespace belongs to the new user namespace (it was made in the same clone):
    # /proc/PID/ns/pid's owner is not visible from Python, but the jailer (in our user
    # namespace) could not have made one otherwise.
    check_jailed(j, pid)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    # --id, the jailer's timing options (api_server metrics), then what followed "--"
    assert cmdline[:3] == [b"petrel", b"--id", b"rl-1"], cmdline
    assert [a.split(b"=")[0] for a in cmdline[3:6]] == \
        [b"--start-time-us", b"--start-time-cpu-us", b"--parent-cpu-time-us"], cmdline
    assert cmdline[6:] == [a.encode() for a in API_ARGS], cmdline
    # The waiting jailer stays the caller, on the host, in our namespaces.
    jst = status_fields(j.proc.pid)
    assert jst["Uid"] == [str(USER)] * 4
    assert os.readlink(f"/proc/{j.proc.pid}/ns/user") == os.readlink("/proc/self/ns/user")
    os.kill(pid, 9)
    assert j.proc.wait(timeout=10) == 128 + 9


def test_rootless_without_new_pid_ns_maps_the_callers_own_ids(jails, base):
    # No --uid/--gid: the caller's numbers inside too.
    j = start(jails, base, "rl-2", [], uid=None, gid=None)
    jaillib.wait_api(j.root / "run" / "api.sock", j.proc)
    pid = j.proc.pid   # the jailer became petrel
    check_unprivileged(pid, [str(USER), str(USER), "1"], [str(USER), str(USER), "1"])
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink("/proc/self/ns/pid")
    check_jailed(j, pid)
    assert not (j.root / "petrel.pid").exists()


def test_rootless_uid_0_inside_gets_no_capabilities(jails, base):
    # Root of its user namespace, yet the exec gave it nothing (SECBIT_NOROOT).
    j = start(jails, base, "rl-3", ["--new-pid-ns"], uid=0, gid=0)
    jaillib.wait_api(j.root / "run" / "api.sock", j.proc)
    pid = j.petrel_pid()
    check_unprivileged(pid, ["0", str(USER), "1"], ["0", str(USER), "1"])


def test_rootless_devices_the_caller_cannot_open_are_left_out(jails, base):
    # /dev/net/tun is 0600 root here (and there is no /dev/kvm): a note says so, one line.
    j = start(jails, base, "rl-4", ["--new-pid-ns"])
    jaillib.wait_api(j.root / "run" / "api.sock", j.proc)
    pid = j.petrel_pid()
    for dev in ("kvm", "net/tun", "userfaultfd"):
        host = Path("/dev") / dev
        usable = host.exists() and os.stat(host).st_mode & 0o006 == 0o006
        assert Path(f"/proc/{pid}/root/dev/{dev}").exists() == usable, dev
    os.kill(pid, 9)
    out = j.proc.stdout.read().decode()
    notes = [ln for ln in out.splitlines() if ln.startswith("petrel-jailer: note:")]
    assert len(notes) <= 1, out
    if not Path("/dev/kvm").exists():
        assert "/dev/kvm (the host has none)" in notes[0], out
    if os.stat("/dev/net/tun").st_mode & 0o006 != 0o006:
        assert f"/dev/net/tun (uid {USER} may not open it: Permission denied)" in notes[0], out


@pytest.mark.parametrize("pid_ns", [True, False])
def test_a_host_without_user_namespaces_gets_a_clear_error(base, pid_ns):
    # Inside `unshare -U -r` the caller may lower its own namespace's limit to 0; the
    # jailer (uid 0 there, USER on the host) then cannot make a user namespace.
    jailer = [str(jaillib.JAILER), "--rootless", "--id", "rl-no", "--exec-file",
              str(jaillib.PETREL), "--chroot-base-dir", str(base),
              *(["--new-pid-ns"] if pid_ns else []), "--", *API_ARGS]
    r = run_as_user("unshare", "-U", "-r", "sh", "-c",
                    'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh", *jailer)
    assert r.returncode == 1, r
    (line,) = errors(r.stderr)
    step = "clone into new user and pid namespaces" if pid_ns else "unshare(CLONE_NEWUSER)"
    assert line.startswith(f"petrel-jailer: --rootless: {step}: user namespaces are disabled "
                           "on this host (/proc/sys/user/max_user_namespaces is 0)"), line
    assert line.endswith("(errno 28)"), line
    assert not (base / "petrel" / "rl-no").exists()   # built and removed, or never built


def test_not_root_and_not_rootless_says_use_rootless(base):
    r = run_as_user(jaillib.JAILER, "--id", "rl-x", "--exec-file", jaillib.PETREL, "--uid", "1",
                    "--gid", "1", "--chroot-base-dir", base)
    assert r.returncode == 1
    assert "the jailer must run as root" in r.stderr and "use --rootless" in r.stderr, r.stderr
    assert list(base.iterdir()) == []


def test_rootless_netns_of_another_user_namespace_is_refused_clearly(base):
    # A network namespace the caller made in a user namespace of its own: the jail's new
    # user namespace is not its owner, so setns is refused, and the message says why.
    holder = subprocess.Popen(["unshare", "-U", "-r", "--net", "sleep", "60"], user=USER,
                              group=USER, extra_groups=[])
    try:
        netns = f"/proc/{holder.pid}/ns/net"
        deadline = jaillib.time.monotonic() + 5
        while os.readlink(netns) == os.readlink("/proc/self/ns/net"):
            assert jaillib.time.monotonic() < deadline
            jaillib.time.sleep(0.01)
        r = run_as_user(jaillib.JAILER, "--rootless", "--id", "rl-net", "--exec-file",
                        jaillib.PETREL, "--chroot-base-dir", base, "--new-pid-ns",
                        "--netns", netns)
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 1
    (line,) = errors(r.stderr)
    assert line.startswith(f"petrel-jailer: --rootless: setns into the network namespace "
                           f"{netns}: joining needs CAP_SYS_ADMIN"), line
    assert not (base / "petrel" / "rl-net").exists()


def test_rootless_cgroup_not_delegated_is_refused_clearly(base):
    parent = f"petrel-rl-{os.getpid()}"
    r = run_as_user(jaillib.JAILER, "--rootless", "--id", "rl-cg", "--exec-file", jaillib.PETREL,
                    "--chroot-base-dir", base, "--parent-cgroup", parent,
                    "--cgroup", "pids.max=10")
    assert r.returncode == 1
    (line,) = errors(r.stderr)
    assert line.startswith(f"petrel-jailer: cgroup: mkdir /sys/fs/cgroup/pids/{parent}"), line
    assert "errno 13" in line
    assert "delegated to the calling user" in r.stderr, r.stderr
    assert not (base / "petrel" / "rl-cg").exists()
    assert not (jaillib.CGROUP_V1 / "pids" / parent).exists()


def test_rootless_cgroup_v2_in_a_delegated_subtree(jails, base):
    # What an administrator (or systemd's Delegate=yes) does: a v2 cgroup owned by the user,
    # the user's processes started in it. Then the jailer makes <delegated>/<id>, writes
    # the values, and petrel moves in (the common ancestor's cgroup.procs is the user's).
    v2 = jaillib.cgroup2_mount()
    if v2 is None:
        pytest.skip("no cgroup2 hierarchy")
    parent = f"petrel-rl-deleg-{os.getpid()}"
    deleg = v2 / parent
    deleg.mkdir()
    try:
        for f in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
            os.chown(deleg / f, USER, USER)
        # The shell (still root) moves itself into the delegated cgroup, then becomes the
        # jailer as USER (subprocess's user= switch happens before the shell runs: so the
        # switch is setpriv's here).
        prefix = ["sh", "-c", f'echo $$ > {deleg}/cgroup.procs && exec "$@"', "sh", "setpriv",
                  f"--reuid={USER}", f"--regid={USER}", "--clear-groups"]
        j = jaillib.Jail(base, "rl-v2", args=["--rootless", "--new-pid-ns", "--cgroup-version",
                                              "2", "--cgroup", "cgroup.max.descendants=2"],
                         petrel_args=API_ARGS, uid=INSIDE, gid=INSIDE, prefix=prefix,
                         parent_cgroup=parent)
        jails.append(j)
        j.start()
        jaillib.wait_api(j.root / "run" / "api.sock", j.proc)
        pid = j.petrel_pid()
        d = deleg / "rl-v2"
        assert (d / "cgroup.max.descendants").read_text().strip() == "2"
        assert [int(p) for p in (d / "cgroup.procs").read_text().split()] == [pid]
        assert os.stat(d).st_uid == USER
        check_unprivileged(pid, ["1000", str(USER), "1"], ["1000", str(USER), "1"])
        j.close()
    finally:
        if deleg.exists():
            for sub in deleg.iterdir():
                if sub.is_dir():
                    sub.rmdir()
            deleg.rmdir()


@pytest.mark.parametrize("args, message", [
    (["--rootless=yes", "--id", "x1", "--exec-file", str(jaillib.PETREL)],
     "unknown option or missing value: '--rootless=yes'"),
    (["--rootless", "--id", "x1"], "--exec-file is required"),
    (["--rootless", "--id", "x1", "--exec-file", str(jaillib.PETREL), "--uid", "-3"],
     "--uid: '-3'"),
])
def test_rootless_bad_arguments_exit_2(base, args, message):
    r = run_as_user(jaillib.JAILER, *args, "--chroot-base-dir", base)
    assert r.returncode == 2, r
    assert message in r.stderr.splitlines()[0] and "--rootless" in r.stderr, r.stderr
    assert list(base.iterdir()) == []


def test_rootless_refuses_host_root(base):
    # Host root mapped into the jail would own petrel's files and every root-owned file's
    # owner bits: refused before anything is built.
    r = subprocess.run([str(jaillib.JAILER), "--rootless", "--id", "rl-root", "--exec-file",
                        str(jaillib.PETREL), "--chroot-base-dir", str(base)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    (line,) = errors(r.stderr)
    assert "the caller is root: run it as an unprivileged user" in line, line
    assert list(base.iterdir()) == []


def test_rootless_daemonize_returns_once_petrel_runs(jails, base):
    j = start(jails, base, "rl-d", ["--new-pid-ns", "--daemonize"])
    assert j.proc.wait(timeout=10) == 0, j.proc.stdout.read()
    jaillib.wait_api(j.root / "run" / "api.sock")
    pid = j.petrel_pid()
    check_unprivileged(pid, ["1000", str(USER), "1"], ["1000", str(USER), "1"])
    stat_fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    assert int(stat_fields[3]) == pid   # a session of its own
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"


@pytest.mark.parametrize("pid_ns", [True, False])
def test_rootless_cgroup_v1_in_a_delegated_subtree(jails, base, pid_ns):
    # On this hybrid host the controllers are in v1: an administrator delegates a subtree by
    # chowning its directory, tasks and cgroup.procs, and keeps the limits above it. The
    # jailer (as the user) makes <delegated>/<id>, whose files are then the user's, sets
    # the limits there and moves petrel in (v1 wants only write access to tasks and the
    # same uid: no common-ancestor rule, so no need to start inside the subtree).
    parent = f"petrel-rl-v1-{os.getpid()}"
    delegated = [jaillib.CGROUP_V1 / c / parent for c in ("pids", "memory")]
    try:
        for d in delegated:
            d.mkdir()
            for f in ("", "tasks", "cgroup.procs"):
                os.chown(d / f, USER, USER)
        (delegated[0] / "pids.max").write_text("100")   # the administrator's cap, above
        j = start(jails, base, "rl-v1", [*(["--new-pid-ns"] if pid_ns else []),
                                         "--cgroup-version", "1", "--cgroup", "pids.max=16",
                                         "--cgroup", "memory.limit_in_bytes=268435456"],
                  parent_cgroup=parent)
        jaillib.wait_api(j.root / "run" / "api.sock", j.proc)
        pid = j.petrel_pid() if pid_ns else j.proc.pid
        pids_dir, mem_dir = (d / "rl-v1" for d in delegated)
        assert (pids_dir / "pids.max").read_text().strip() == "16"
        assert (mem_dir / "memory.limit_in_bytes").read_text().strip() == "268435456"
        for d in (pids_dir, mem_dir):
            assert [int(p) for p in (d / "cgroup.procs").read_text().split()] == [pid]
            assert os.stat(d).st_uid == USER
        cg = Path(f"/proc/{pid}/cgroup").read_text()
        assert f":pids:/{parent}/rl-v1\n" in cg and f":memory:/{parent}/rl-v1\n" in cg
        check_unprivileged(pid, ["1000", str(USER), "1"], ["1000", str(USER), "1"])
        j.close()   # kills petrel, removes <delegated>/rl-v1 (and tries the parent)
    finally:
        for d in delegated:
            if d.exists():
                for sub in d.iterdir():
                    if sub.is_dir():
                        sub.rmdir()
                d.rmdir()


KVM_GROUP = 23457     # /dev/kvm's group for the test, where the host gives it to root alone


def kvm_groups():
    """The groups that let USER open /dev/kvm read-write, or None if nothing does."""
    try:
        st = os.stat("/dev/kvm")
    except FileNotFoundError:
        return None
    if st.st_mode & 0o006 == 0o006:
        return []
    if st.st_mode & 0o060 == 0o060:
        return [st.st_gid]
    return None


@pytest.fixture
def kvm_for_user():
    """The groups USER needs to open /dev/kvm. Where the host lets only root open it (0600: a
    PVM host, the nested-KVM L1), the test (root) lends it a group of its own and gives the
    device back as it was afterwards, as Debian's udev rule does with the kvm group."""
    groups = kvm_groups()
    if groups is not None:
        yield groups
        return
    if os.geteuid() != 0:
        pytest.skip("needs a /dev/kvm a user may open (or root to lend it a group)")
    st = os.stat("/dev/kvm")
    os.chown("/dev/kvm", -1, KVM_GROUP)
    os.chmod("/dev/kvm", (st.st_mode & 0o7777) | 0o060)
    try:
        yield [KVM_GROUP]
    finally:
        os.chmod("/dev/kvm", st.st_mode & 0o7777)
        os.chown("/dev/kvm", -1, st.st_gid)


@pytest.mark.needs_kvm
def test_rootless_guest_boots_in_the_jail(jails, base, kvm_for_user):
    # The caller is in /dev/kvm's group (kept in the user namespace), so /dev/kvm is
    # bind-mounted. The boot test guest is put in the jail, configured over the API and
    # started; it ends through the debug-exit port, and petrel's status (the guest's
    # verdict) comes back through the jailer.
    guest = jaillib.BUILD / "tests" / "guests" / "boot.elf"
    if not guest.exists():
        pytest.skip(f"{guest} not built (-Dguests=true)")
    j = jaillib.Jail(base, "rl-kvm", args=["--rootless", "--new-pid-ns"],
                     petrel_args=[*API_ARGS, "--debug-exit"], uid=INSIDE, gid=INSIDE,
                     user=USER, groups=kvm_for_user)
    jails.append(j)
    j.start()
    sock = j.root / "run" / "api.sock"
    jaillib.wait_api(sock, j.proc)
    # /dev is the jail's own tmpfs, seen through petrel's root (not j.root/dev from here)
    kvm = os.stat(f"/proc/{j.petrel_pid()}/root/dev/kvm")
    assert stat.S_ISCHR(kvm.st_mode) and kvm.st_rdev == os.stat("/dev/kvm").st_rdev
    jaillib.shutil.copy(guest, j.root / "boot.elf")
    os.chown(j.root / "boot.elf", USER, USER)
    for url, body in (("/boot-source", '{"kernel_image_path": "/boot.elf", '
                                       '"boot_args": "petrel-test-token=1234"}'),
                      ("/machine-config", '{"vcpu_count": 1, "mem_size_mib": 64}'),
                      ("/actions", '{"action_type": "InstanceStart"}')):
        status, rbody = jaillib.http_request(sock, "PUT", url, body)
        assert status == 204, (url, status, rbody)
    assert j.proc.wait(timeout=60) == 0
    out = j.proc.stdout.read().decode(errors="replace")
    assert "ok boot" in out, out
