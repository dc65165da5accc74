"""Rewrite code objects so that loads, stores and deletes of watched global
names go through Binding objects:

    LOAD_GLOBAL NAME    ->  [PUSH_NULL] LOAD_CONST <binding> LOAD_ATTR value
    STORE_GLOBAL NAME   ->  LOAD_CONST <binding> STORE_ATTR value
    DELETE_GLOBAL NAME  ->  LOAD_CONST <binding> DELETE_ATTR value

Each new instruction keeps the location (line) of the one it replaces, so
tracebacks and reports name the same lines. Only code objects that mention a
watched name are rewritten; everything else runs untouched. The bytecode
package does the assembly (jumps, exception tables, line tables)."""
import sys
import types


PY311 = sys.version_info >= (3, 11)
PY312 = sys.version_info >= (3, 12)
ATTR = "value"


def _attr_arg():
    # From 3.12 LOAD_ATTR's argument says whether it loads a method too.
    return (False, ATTR) if PY312 else ATTR


def mentions(code, names):
    """Does this code object (or one nested in it) use any of the names?"""
    if not names.isdisjoint(code.co_names):
        return True
    return any(isinstance(c, types.CodeType) and mentions(c, names) for c in code.co_consts)


def _global_name(instr):
    if instr.name == "LOAD_GLOBAL" and PY311:
        return instr.arg[1]
    return instr.arg


def rewrite(code, bindings):
    """A code object like `code` whose accesses to the names of `bindings`
    ({name: Binding}) go through them; `code` itself when it uses none."""
    names = set(bindings)
    if not mentions(code, names):
        return code
    from bytecode import Bytecode, Instr  # only once a module-level name is watched (start-up)

    bc = Bytecode.from_code(code)
    out = []
    for instr in bc:
        if not isinstance(instr, Instr):
            out.append(instr)
            continue
        op = instr.name
        loc = instr.location
        if op in ("LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL") and _global_name(instr) in names:
            binding = bindings[_global_name(instr)]
            if op == "LOAD_GLOBAL":
                if PY311 and instr.arg[0]:
                    out.append(Instr("PUSH_NULL", location=loc))
                out.append(Instr("LOAD_CONST", binding, location=loc))
                out.append(Instr("LOAD_ATTR", _attr_arg(), location=loc))
            else:
                out.append(Instr("LOAD_CONST", binding, location=loc))
                out.append(Instr("STORE_ATTR" if op == "STORE_GLOBAL" else "DELETE_ATTR", ATTR,
                                 location=loc))
            continue
        if op == "LOAD_CONST" and isinstance(instr.arg, types.CodeType):
            nested = rewrite(instr.arg, bindings)
            if nested is not instr.arg:
                instr = Instr("LOAD_CONST", nested, location=loc)
        out.append(instr)
    bc.clear()
    bc.extend(out)
    return bc.to_code()


def stored_names(code):
    """Global names this code (or code nested in it) stores or deletes."""
    from bytecode import Bytecode, Instr

    found = set()
    for instr in Bytecode.from_code(code):
        if isinstance(instr, Instr) and instr.name in ("STORE_GLOBAL", "DELETE_GLOBAL"):
            found.add(instr.arg)
        elif isinstance(instr, Instr) and instr.name == "LOAD_CONST" and \
                isinstance(instr.arg, types.CodeType):
            found |= stored_names(instr.arg)
    return found
