"""Merge per-process JSON reports (json_path=report.%p.json under a pre-fork
server, or several runs) into one de-duplicated report."""
import hashlib
import json
import os

from . import report


def _frame(stack):
    if not stack:
        return ("?", 0)
    return (stack[0]["file"], stack[0]["line"])


def _frames(stack):
    return tuple((f["file"], f["line"]) for f in stack or ())


def key(finding):
    """Same finding: same kind, category, target and code locations, as the
    report in one process tells findings apart: a race by the lines of its
    accesses, a pool's or thread's finding by its whole stacks (thread leaks
    started at different places all have Thread.start innermost)."""
    where = _frame if finding["kind"] == "race" else _frames
    places = []
    for access in finding.get("accesses", []):
        places.append(where(access["stack"]))
        if access.get("check"):
            places.append(where(access["check"]["stack"]))
    for section in finding.get("stacks", []):
        places.append(where(section["stack"]))
    return (finding["kind"], finding["category"], finding["target"], tuple(sorted(places)))


def fingerprint(finding, root):
    """What a finding is from run to run, without line numbers (they move as
    a file is edited elsewhere): its category, target, and the files (relative
    to root when under it) and functions of its sites."""
    root = os.path.abspath(root)
    sites = set()
    stacks = [a["stack"] for a in finding.get("accesses", [])]
    stacks += [a["check"]["stack"] for a in finding.get("accesses", []) if a.get("check")]
    stacks += [s["stack"] for s in finding.get("stacks", [])]
    for stack in stacks:
        top = stack[0] if stack else {}
        path = os.path.abspath(os.path.join(root, top.get("file") or "?"))
        if path.startswith(root + os.sep):
            path = os.path.relpath(path, root)
        sites.add(f"{path}:{top.get('function', '?')}")
    text = "\n".join([finding["category"], finding["target"]] + sorted(sites))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def load(path):
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise ValueError("not a cachewatch report (no 'findings' list)")
    return data


def merge(reports, which="findings"):
    """One finding per key, with the pids that saw it and the hits summed
    (which: "findings", or "suppressed" for those suppressions hid)."""
    merged = {}
    for data in reports:
        pid = data.get("pid")
        for finding in data.get(which, []):
            k = key(finding)
            if k not in merged:
                merged[k] = dict(finding, processes=[], hits=0)
            entry = merged[k]
            entry["hits"] += finding.get("hits", 1)
            if pid is not None and pid not in entry["processes"]:
                entry["processes"].append(pid)
    return list(merged.values())


def describe(finding):
    """A few lines for one merged finding."""
    head = f"{finding['category']} on {finding['target']}"
    hits = finding.get("hits", 1)  # racing pairs of accesses found: one bug, many meetings
    seen = f"seen {hits} time{'' if hits == 1 else 's'}"
    keys = finding.get("keys", 1)
    if keys != 1:
        seen = f"at {keys} keys, " + seen
    if "processes" in finding:
        seen = f"{len(finding['processes'])} process(es), " + seen
    lines = [f"{head} ({seen})"]
    if finding.get("detail"):
        lines.append(f"  {finding['detail']}")
    for access in finding.get("accesses", []):
        file, line = _frame(access["stack"])
        lines.append(f"  {access['access']} ({access['op']}) by '{access['thread']}' at {file}:{line}")
    for section in finding.get("stacks", []):
        file, line = _frame(section["stack"])
        lines.append(f"  {section['title']} at {file}:{line}")
    return lines


def write(path, findings):
    return report.write_json_data(path, {"findings": findings})


def default_name(paths):
    return os.path.commonprefix([os.path.basename(p) for p in paths]) or "merged"
