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
