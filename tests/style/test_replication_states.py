"""The replication states are one contract: docs/manager.md#replication-states lists them (the
`state` of GET /vms/NAME/replica, the worker's GET /replication). The worker's names
(repl_state_name, src/ha/replication.c) are exactly the rows it says, one per enum value;
petreld's own answers are its rows; and every name the resource agent (ocf/petrel-vm), petreld
and `petrel replicate` compare a replication state with is listed. Before, the names were spelled
in three places (the VMM, petreld, the agent) with nothing holding them together (the
architecture review of 2026-11-27)."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "manager.md"
AGENT = ROOT / "ocf" / "petrel-vm"
SAID_BY = ("petreld", "the worker")


def doc_states():
    """{name: who says it} from the doc's table."""
    text = DOC.read_text()
    m = re.search(r"^### Replication states\n(.*?)(?=^##|\Z)", text, re.S | re.M)
    assert m, f"{DOC}: no section '### Replication states'"
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| ([^|]+?) \|", m.group(1), re.M))
    assert rows, f"{DOC}: no state in the table of '### Replication states'"
    return rows


def worker_states():
    """repl_state_name's names, and how many values enum repl_state has."""
    src = (ROOT / "src" / "ha" / "replication.c").read_text()
    m = re.search(r"repl_state_name\(enum repl_state \w+\)\s*\{(.*?)\n\}", src, re.S)
    assert m, "src/ha/replication.c: no repl_state_name"
    table = re.search(r"\[\]\s*=\s*\{([^{}]*)\}", m.group(1))
    assert table, "repl_state_name: no table of names"
    hdr = (ROOT / "src" / "ha" / "replication.h").read_text()
    enum = re.search(r"enum repl_state \{(.*?)\};", hdr, re.S)
    assert enum, "src/ha/replication.h: no enum repl_state"
    values = re.findall(r"^\s*(REPL_\w+)\s*[,=]?", re.sub(r"/\*.*?\*/", "", enum.group(1), flags=re.S), re.M)
    return re.findall(r'"([^"]*)"', table.group(1)), len(values)


def c_compared(text):
    """The names C code compares a replication state with: strcmp of a variable read from a
    "state" key (or of the lookup itself), and a { state, event } table."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lookup = r'(?:[\w>.-]+\()+[^()]*"state"\)+'  # str_of(o, "state"), json_..(json_..(o, "state"))
    variables = set(re.findall(r"(\w+)\s*=\s*" + lookup, text))
    names = set()
    for expr, name in re.findall(r'strcmp\(\s*(' + lookup + r'|\w+)\s*,\s*"([^"]*)"\s*\)', text):
        if expr in variables or "(" in expr:
            names.add(name)
    for body in re.findall(r"struct\s*\{\s*const char \*state\b[^}]*\}\s*\w+\[\]\s*=\s*\{(.*?)\};", text, re.S):
        names.update(re.findall(r'\{\s*"([^"]*)"', body))
    return names


def replica_sources():
    """petreld's files of replicated VMs (named *replica*, wherever in src/manager) and `petrel
    replicate`'s."""
    return sorted((ROOT / "src" / "manager").rglob("*replica*.c")) + [ROOT / "src" / "cli" / "replicate.c"]


def shell_compared(text, var="state"):
    """The names a shell script compares a replication state with: in `[ "$state" = NAME ]`
    and `case $state in NAME | NAME)`, and the same of $N in the functions it is passed to as
    their Nth argument (and on, to the functions they pass it to)."""
    bodies = dict(re.findall(r"^(\w+)\(\)\s*\{[^\n]*\n(.*?)^\}", text, re.S | re.M))
    names, seen, todo = set(), set(), [(None, var)]
    while todo:
        fn, v = todo.pop()
        if (fn, v) in seen:
            continue
        seen.add((fn, v))
        code = text if fn is None else bodies.get(fn, "")
        ref = r'"?\$\{?' + re.escape(v) + r'\}?"?'
        for name in re.findall(r"\[\[? +" + ref + r' +!?==? +"?([\w-]+)"?', code):
            names.add(name)
        for block in re.findall(r"\bcase +" + ref + r" +in\b(.*?)\besac\b", code, re.S):
            for pats in re.findall(r"^\s*([^()\n]+)\)", block, re.M):
                names.update(p.strip().strip("\"'") for p in pats.split("|") if p.strip() != "*")
        # calls passing it on: FN ARG... "$v"
        for callee, before in re.findall(r"(?<![\w$-])(\w+)((?: +\"?\$[\w{}]+\"?)*) +\"\$" + re.escape(v) + r'"', code):
            if callee in bodies:
                todo.append((callee, str(len(before.split()) + 1)))
    return names


def test_the_doc_says_who_reports_each_state():
    for name, who in doc_states().items():
        assert who in SAID_BY, f"{DOC}: state {name}: said by {who!r}, not one of {SAID_BY}"


def test_the_worker_reports_exactly_the_listed_names():
    names, nvalues = worker_states()
    assert len(names) == nvalues, f"repl_state_name has {len(names)} names for {nvalues} values of enum repl_state"
    listed = {n for n, who in doc_states().items() if who == "the worker"}
    assert set(names) == listed, (f"src/ha/replication.c says {sorted(set(names) - listed)} not listed in "
                                  f"{DOC.name}#replication-states; listed but not said: {sorted(listed - set(names))}")


def test_petreld_says_its_listed_names():
    text = "".join(p.read_text() for p in replica_sources()[:-1])
    for name, who in doc_states().items():
        if who == "petreld":
            assert f'"{name}"' in text, f"{DOC.name}: petreld says {name}, but src/manager does not spell it"


def test_petreld_and_the_cli_compare_only_listed_names():
    listed = set(doc_states())
    found = {}
    for p in replica_sources():
        for name in c_compared(p.read_text()):
            found.setdefault(name, []).append(str(p.relative_to(ROOT)))
    assert found, "no comparison of a replication state found in the C sources: the check went blind"
    unknown = {n: f for n, f in found.items() if n not in listed}
    assert not unknown, f"compared with states not in {DOC.name}#replication-states: {unknown}"


def test_the_agent_matches_only_listed_names():
    names = shell_compared(AGENT.read_text())
    assert names, "no comparison of a replication state found in ocf/petrel-vm: the check went blind"
    unknown = names - set(doc_states())
    assert not unknown, f"ocf/petrel-vm matches states not in {DOC.name}#replication-states: {sorted(unknown)}"


def test_the_checks_are_not_blind():
    agent = '''
f() {
	[ "$1" = alpha ] || [ "$2" = not-a-state ]
	g "$x" "$1"
}
g() {
	case $2 in
	beta | "gamma") return 0 ;;
	*) return 1 ;;
	esac
}
main() {
	read -r role state <<<"$(x)"
	[ "$state" != delta ] && f "$state" "$other"
	if h "$state"; then :; fi
}
h() { # STATE
	[[ $1 == zeta ]]
}
'''
    assert shell_compared(agent) == {"alpha", "beta", "gamma", "delta", "zeta"}
    c = '''
static void f(json_t *o, json_t *cur)
{
	const char *st = str_of(o, "state"), *role = str_of(o, "role");
	static const struct { const char *state, *event; } events[] = { { "alpha", "a" }, { "beta", "b" } };
	if (!strcmp(st, "gamma") || !strcmp(role, "primary") || !strcmp(str_of(cur, "state"), "delta"))
		return;
	const char *s2 = json_string_value(json_object_get(o, "state"));
	int x = !strcmp(s2, "epsilon"); /* !strcmp(st, "in-a-comment") */
}
'''
    assert c_compared(c) == {"alpha", "beta", "gamma", "delta", "epsilon"}
