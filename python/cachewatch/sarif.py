"""Findings as SARIF 2.1.0, the format code scanning reads (GitHub's upload
among others): a rule per category, a result per finding with its primary
location at the act, related locations for the check and the other
thread's access, a code flow with one thread flow per thread carrying its
stacks, and fingerprints that stay the same from run to run while the
code does. Paths under the source root are relative to %SRCROOT%."""
import os
import pathlib

from . import _cachewatch as _c
from . import merge, report

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"

# category -> (name, what it is); what to do is the text report's Hint
# (ext/engine/names.c), the same words
RULES = {
    "check-then-act": (
        "CheckThenAct",
        "A check of a watched location and an act on it in one call, with no lock held "
        "across both, while another thread changed it: the act rests on a stale check."),
    "lost-update": (
        "LostUpdate",
        "A read-modify-write of a watched location that another thread's write landed in "
        "the middle of: one of the two updates is lost."),
    "write-write": (
        "WriteWrite",
        "Two threads wrote one watched location with nothing ordering the writes: which "
        "one stays is up to the scheduler."),
    "iteration": (
        "IterationRace",
        "A loop over a watched container while another thread changed its keys: the loop "
        "may raise or miss items."),
    "unbounded-pool": (
        "UnboundedPool",
        "A pool with no bound on its backlog held more waiting tasks than the pool_backlog "
        "or pool_wait_ms options allow."),
    "executor-leak": (
        "ExecutorLeak",
        "Executors made at one place and never shut down."),
    "abandoned-task": (
        "AbandonedTask",
        "A task ran on, or started, after its waiter gave up on it (a timeout)."),
    "thread-leak": (
        "ThreadLeak",
        "A thread started while checking was still running when checking ended."),
}


def _rule(category):
    name, full = RULES.get(category, (category, category))
    try:
        help_text = _c.finding_hint(category)
    except ValueError:
        help_text = ""
    help_text = help_text[:1].upper() + help_text[1:] + "." if help_text else full
    kind = "race" if category in report.RACES else "pool" if category in report.POOLS \
        else "thread"
    return {
        "id": category, "name": name,
        "shortDescription": {"text": full.split(": ")[0].rstrip(".") + "."},  # before the why
        "fullDescription": {"text": full},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": "error" if kind == "race" else "warning"},
        "properties": {"tags": ["concurrency", kind]},
    }


def _artifact(path, root):
    """An artifactLocation: relative to %SRCROOT% when under it."""
    absolute = os.path.abspath(os.path.join(root, path))
    relative = os.path.relpath(absolute, root)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return {"uri": pathlib.Path(absolute).as_uri()}
    return {"uri": pathlib.PurePath(relative).as_posix(), "uriBaseId": SRCROOT}


def _location(frame, root, message=None):
    location = {}
    path = frame.get("file") or ""
    if path and not frame.get("native") and not path.startswith("<"):
        location["physicalLocation"] = {
            "artifactLocation": _artifact(path, root),
            "region": {"startLine": max(int(frame.get("line") or 1), 1)}}
    if frame.get("function"):
        location["logicalLocations"] = [{"fullyQualifiedName": frame["function"],
                                         "kind": "function"}]
    if message:
        location["message"] = {"text": message}
    return location


def _top(stack):
    return stack[0] if stack else {"file": "", "line": 1, "function": "?"}


def _flow_step(stack, root, message):
    return {"location": _location(_top(stack), root, message),
            "stack": {"message": {"text": message},
                      "frames": [{"location": _location(f, root)} for f in stack]}}


# threadFlowLocation kinds (SARIF 2.1.0, 3.38.8) for each sync event's kind.
_EVENT_KINDS = {"acquire": ["lock", "acquire"], "release": ["lock", "release"],
                "publish": ["release"], "consume": ["acquire"], "start": ["call"],
                "begin": ["enter"], "end": ["exit"]}


def _event_step(event, root):
    """One of the thread's last sync events, as a step of its thread flow."""
    what = event["lock"].split(" ")[0] if event.get("lock") else event.get("label")
    text = f"{event['kind']} {what}" if what else event["kind"]
    at = event.get("at") or []
    location = _location(at[0], root, text) if at else {"message": {"text": text}}
    return {"location": location, "kinds": _EVENT_KINDS.get(event["kind"], ["unknown"])}


def _race_parts(finding, root):
    """(primary, related, thread flows) of a race: the act is the access that
    acted on a check (else the first write)."""
    accesses = finding.get("accesses", [])
    acts = [a for a in accesses if a.get("check")] or \
        [a for a in accesses if a.get("access") == "write"] or accesses
    act = acts[0]
    primary = _location(_top(act["stack"]), root)
    related, flows = [], []
    for access in accesses:
        steps = []  # (place among the thread's events, step)
        if access.get("check"):
            check = access["check"]
            text = f"{check['op']} (the check) by '{access['thread']}'"
            related.append(_location(_top(check["stack"]), root, text))
            steps.append((check.get("events_before", access.get("events_before", 0)),
                          _flow_step(check["stack"], root, text)))
        text = f"{access['access']} ({access['op']}) by '{access['thread']}'"
        if access.get("locks"):
            text += " holding " + ", ".join(str(lock) for lock in access["locks"])
        if access is not act:
            related.append(_location(_top(access["stack"]), root, text))
        steps.append((access.get("events_before", 0), _flow_step(access["stack"], root, text)))
        steps += [(event["n"] + 0.5, _event_step(event, root))
                  for event in access.get("history", [])]
        steps.sort(key=lambda step: step[0])  # stable: a check stays before its act
        flows.append({"message": {"text": f"thread '{access['thread']}'"},
                      "locations": [step for _, step in steps]})
    return primary, related, flows


def _section_parts(finding, root):
    sections = finding.get("stacks", [])
    primary = _location(_top(sections[0]["stack"]) if sections else _top([]), root)
    related = [_location(_top(s["stack"]), root, s["title"]) for s in sections[1:]]
    flows = [{"message": {"text": s["title"]},
              "locations": [_flow_step(s["stack"], root, s["title"])]} for s in sections]
    return primary, related, flows


def _message(finding):
    text = f"{finding['category']} on {finding['target']}"
    if finding.get("key"):
        keys = finding.get("keys", 1)  # a count, or "over 8"
        text += f" at key {finding['key']}"
        if keys != 1:
            text += f" (of {keys} keys)"
    if finding.get("detail"):
        text += f": {finding['detail']}"
    return text


def _result(finding, rule_index, root):
    if finding.get("accesses"):
        primary, related, flows = _race_parts(finding, root)
    else:
        primary, related, flows = _section_parts(finding, root)
    for i, location in enumerate(related, 1):
        location["id"] = i
    result = {
        "ruleId": finding["category"], "ruleIndex": rule_index,
        "level": "error" if finding["category"] in report.RACES else "warning",
        "message": {"text": _message(finding)},
        "locations": [primary],
        "partialFingerprints": {"cachewatchFinding/v1": merge.fingerprint(finding, root)},
        "properties": {k: finding[k] for k in ("target", "key", "keys", "hits", "processes",
                                               "tests", "facts", "backlog") if k in finding},
    }
    if related:
        result["relatedLocations"] = related
    if flows:
        result["codeFlows"] = [{"threadFlows": flows}]
    return result


def _suppressed_result(finding, rule_index, root):
    """A finding a suppression hid: a result marked suppressed, so code
    scanning shows it as dismissed rather than never found."""
    result = _result(finding, rule_index, root)
    by = finding.get("suppressed_by") or {}
    justification = by.get("reason") or f"{by.get('type', '?')}:{by.get('pattern', '?')}"
    result["suppressions"] = [{"kind": "external", "justification": justification}]
    return result


def to_sarif(findings, root=None, version=None, suppressed=()):
    """The SARIF log of these findings (as cachewatch's JSON holds them), and
    of those suppressions hid."""
    root = os.path.abspath(root or os.getcwd())
    order = list(RULES)
    categories = sorted({f["category"] for f in list(findings) + list(suppressed)},
                        key=lambda c: (order.index(c) if c in order else len(order), c))
    index = {c: i for i, c in enumerate(categories)}
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "cachewatch", "version": version or _version(),
                                "rules": [_rule(c) for c in categories]}},
            "originalUriBaseIds": {SRCROOT: {"uri": pathlib.Path(root).as_uri() + "/"}},
            "results": [_result(f, index[f["category"]], root) for f in findings] +
                       [_suppressed_result(f, index[f["category"]], root) for f in suppressed],
        }],
    }


def _version():
    try:
        from importlib.metadata import version
        return version("cachewatch")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "0"


def write(path, findings, root=None, suppressed=()):
    """Write the SARIF log atomically, as the JSON report is written."""
    return report.write_json_data(path, to_sarif(findings, root, suppressed=suppressed))
