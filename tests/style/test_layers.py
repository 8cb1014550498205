"""Every include in src/ points down a layer, and src/api/'s files call only the layers below
them (scripts/check-layers.py; the layers are in docs/development.md)."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-layers.py"


def run(src):
    return subprocess.run([sys.executable, str(SCRIPT), str(src)], capture_output=True, text=True)


def test_the_tree_keeps_its_layers():
    r = run(ROOT / "src")
    assert r.returncode == 0, r.stdout + r.stderr


def test_an_upward_include_fails(tmp_path):
    """The check is not blind: a copy of a low file that includes a higher folder fails."""
    src = tmp_path / "src"
    for d in ("util", "vm"):
        (src / d).mkdir(parents=True)
    (src / "util" / "x.c").write_text('#include "vm/vm.h"\n')
    (src / "vm" / "vm.h").write_text('#include "util/x.h"\n')
    r = run(src)
    assert r.returncode == 1
    assert "src/util/x.c: includes vm/" in r.stdout


def test_a_resource_calling_another_fails(tmp_path):
    api = tmp_path / "src" / "api"
    api.mkdir(parents=True)
    (api / "ctl_a.c").write_text("int ctl_a(void)\n{\n\treturn 0;\n}\n")
    (api / "ctl_b.c").write_text("int ctl_b(void)\n{\n\treturn ctl_a();\n}\n")
    (api / "core.c").write_text("int ctl_core(void)\n{\n\treturn ctl_b();\n}\n")
    r = run(tmp_path / "src")
    assert r.returncode == 1
    assert "src/api/ctl_b.c: calls ctl_a()" in r.stdout
    assert "src/api/core.c: calls ctl_b()" in r.stdout


def test_a_kvm_ioctl_outside_src_kvm_fails(tmp_path):
    """src/kvm is the one place that talks to /dev/kvm: a KVM request issued elsewhere fails,
    and so does an ioctl with a computed request in a file that includes KVM's headers."""
    src = tmp_path / "src"
    for d in ("util", "kvm", "arch", "net"):
        (src / d).mkdir(parents=True)
    (src / "kvm" / "kvm.c").write_text("int f(int fd) { return ioctl(fd, KVM_RUN, 0); }\n")
    (src / "arch" / "a.c").write_text('#include "kvm/kvm.h"\n/* ioctl(fd, KVM_X) in a comment */\n'
                                      "int g(int fd, struct kvm_regs *r)\n{\n"
                                      "\treturn ioctl(fd,\n\t\t     KVM_GET_REGS, r);\n}\n")
    (src / "arch" / "b.c").write_text("#include <linux/kvm.h>\n"
                                      "int h(int fd, unsigned long req, void *p) { return ioctl(fd, req, p); }\n")
    (src / "net" / "tap.c").write_text("int t(int fd) { return ioctl(fd, TUNSETIFF, 0); }\n")
    r = run(src)
    assert r.returncode == 1
    assert "src/arch/a.c: line 5: a KVM ioctl outside src/kvm" in r.stdout
    assert "src/arch/b.c: line 2: an ioctl in a file that includes KVM's headers" in r.stdout
    assert "kvm.c" not in r.stdout and "tap.c" not in r.stdout
