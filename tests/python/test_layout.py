"""The C sources keep their layers: ext/engine/ knows nothing of CPython
(no file there includes Python.h or a binding header), and calls between
files only point down: no two files depend on each other, directly or round
a longer loop, so each can be read knowing only what is below it.

A file depends on another when it uses a function or variable the other
defines (read from the sources: a definition starts at the left margin, as
every one here does)."""
import glob
import os
import re

from helpers import ROOT

EXT = os.path.join(ROOT, "ext")
ENGINE = os.path.join(EXT, "engine")
BINDING = os.path.join(EXT, "cpython")

# A function defined at the left margin: `type name(args...)` and not a
# prototype; a variable defined there: `type name = ...;` or `type name;`.
FUNCTION = re.compile(r"^(?!static\b|extern\b|typedef\b|#|/|\s)[^;=()]*?\b((?:cw|Cw)\w+)\s*\("
                      r"(?:[^;]*|.*\{.*)$", re.M)
VARIABLE = re.compile(r"^(?!static\b|extern\b|typedef\b|#|/|\s|return\b)[\w \*]*?\b((?:cw|Cw)\w+)"
                      r"\s*(?:\[[^\]]*\])?\s*(?:=|;)", re.M)
TOKEN = re.compile(r"\b(?:cw|Cw)\w+\b")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def c_files():
    return sorted(glob.glob(os.path.join(EXT, "*", "*.c")) + glob.glob(os.path.join(EXT, "*", "*.cc")))


def name(path):
    return os.path.relpath(path, EXT)


def read(path):
    with open(path) as f:
        return COMMENT.sub("", f.read())


def dependency_graph():
    texts = {name(p): read(p) for p in c_files()}
    defined_in = {}
    for file, text in texts.items():
        for m in list(FUNCTION.finditer(text)) + list(VARIABLE.finditer(text)):
            defined_in.setdefault(m.group(1), file)
    graph = {file: set() for file in texts}
    for file, text in texts.items():
        for token in set(TOKEN.findall(text)):
            owner = defined_in.get(token)
            if owner is not None and owner != file:
                graph[file].add(owner)
    return graph, defined_in


def cycles(graph):
    """The strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_reader_finds_the_definitions():
    graph, defined_in = dependency_graph()
    assert defined_in["cw_shadow_access"] == "engine/shadow.c"
    assert defined_in["cw_current_thread"] == "cpython/runtime.c"
    assert defined_in["cw_options"] == "cpython/state.c"
    assert defined_in["cw_next_seq"] == "engine/lockset.c"  # a definition on one line
    assert "engine/shadow.c" in graph["cpython/containers.c"]
    assert len(graph) >= 30


def test_no_cycles_between_files():
    graph, _ = dependency_graph()
    loops = cycles(graph)
    assert loops == [], "files that depend on each other: " + "; ".join(
        " <-> ".join(loop) for loop in loops)


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_engine_knows_nothing_of_cpython():
    graph, _ = dependency_graph()
    binding_headers = {os.path.basename(p) for p in glob.glob(os.path.join(BINDING, "*.h"))}
    for path in sorted(glob.glob(os.path.join(ENGINE, "*"))):
        with open(path) as f:
            includes = re.findall(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', f.read(), re.M)
        assert "Python.h" not in includes, name(path)
        assert not set(includes) & binding_headers, (name(path), set(includes) & binding_headers)
        if name(path) in graph:
            assert not [d for d in graph[name(path)] if d.startswith("cpython/")], name(path)


LONGEST_FUNCTION = 80  # lines, signature to closing brace


def function_lengths(path):
    """(name, lines) of each function defined in a C file (a body opens with
    `{` alone at the left margin and ends with `}` there)."""
    lines = open(path).read().split("\n")
    found, start, fname = [], None, None
    for i, line in enumerate(lines):
        if line == "{":
            j = i
            while j > 0 and lines[j - 1].strip() and not lines[j - 1].startswith(("}", "/", " *", "#")) \
                    and not lines[j - 1].rstrip().endswith(";"):
                j -= 1
            m = re.search(r"(\w+)\s*\(", " ".join(lines[j:i]))
            start, fname = j, m.group(1) if m else "?"
        elif line == "}" and start is not None:
            found.append((fname, i - start + 1))
            start = None
    return found


def test_functions_read_at_once():
    long = [(name(p), f, n) for p in c_files() for f, n in function_lengths(p) if n > LONGEST_FUNCTION]
    assert long == [], f"functions over {LONGEST_FUNCTION} lines: {long}"
    lengths = dict(function_lengths(os.path.join(ENGINE, "shadow.c")))
    assert 10 < lengths["cw_shadow_access"] <= LONGEST_FUNCTION  # the reader sees it
