"""Findings as Python data and JSON. The text form is printed by the C core
as each race is found (ThreadSanitizer's layout); this module adds the JSON
file and the closing summary line."""
import json
import os
import tempfile

from . import _cachewatch as _c


# (pid, finding id) -> {name: data the C core does not keep}; by pid, as a
# forked child starts with no findings and reuses their ids
_annotations = {}


def annotate(finding_id, name, value):
    """Add to a finding what only the Python side knows (a pool's backlog
    over time), shown in its JSON, SARIF properties and HTML."""
    _annotations.setdefault((os.getpid(), finding_id), {})[name] = value


def forget_annotations():
    """The findings were cleared: their ids will name others."""
    _annotations.clear()


def findings():
    """Every finding so far, innermost frame first in each stack."""
    items = _c.findings()
    pid = os.getpid()
    for finding in items:
        finding.update(_annotations.get((pid, finding.get("id")), {}))
    return items


def as_json(items=None):
    items = findings() if items is None else items
    return {"findings": items, "suppressed": _c.suppressed_findings(),
            "suppressions": _c.suppressions(), "stats": _c.stats(), "pid": os.getpid()}


def expand_path(path):
    return path.replace("%p", str(os.getpid()))


def write_json(path, items=None):
    """Write findings atomically (temp file + rename), mode 0600."""
    return write_json_data(path, as_json(items))


def write_json_data(path, data):
    return write_text(path, json.dumps(data, indent=2) + "\n")


def write_text(path, text):
    """Write a report file atomically (temp file + rename), mode 0600; %p in
    path becomes the pid."""
    path = expand_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".cachewatch-", dir=directory)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


RACES = {"check-then-act", "write-write", "iteration", "lost-update"}
POOLS = {"unbounded-pool", "executor-leak", "abandoned-task"}
THREADS = {"thread-leak"}


def counts(finding, fail_on):
    """Does this finding count against the program (the fail_on option)?"""
    words = {w for w in (fail_on or "all").split(",") if w}
    category = finding["category"]
    return bool("all" in words or category in words
                or ("race" in words and category in RACES)
                or ("pool" in words and category in POOLS)
                or ("thread" in words and category in THREADS))


def summary_line(items=None):
    items = findings() if items is None else items
    return summary_of(items, _c.stats().get("reports_dropped", 0))


def summary_of(items, dropped=0):
    if not items:
        return "cachewatch: nothing found"
    by = {}
    for f in items:
        by[f["category"]] = by.get(f["category"], 0) + 1
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(by.items()))
    extra = f" ({dropped} more not kept)" if dropped else ""
    return f"cachewatch: {len(items)} finding(s): {kinds}{extra}"
