"""The HTML report, in a real headless Chromium (Debian's chromium and
chromium-driver, driven by selenium): it loads with no console error, the
race's timeline draws its lanes, steps, hand-offs and unordered steps, the
filters work, each thread's hand-offs are drawn between the lanes, and
screenshots are kept (build-artifacts/html-report.png, and html-timeline.png,
of which docs/img/html-timeline.png is a copy)."""
import json
import os
import shutil

import pytest

from helpers import ROOT, SCENARIOS, run_python

ARTIFACTS = os.environ.get("CACHEWATCH_ARTIFACTS", os.path.join(ROOT, "build-artifacts"))


def _reports(tmp_path):
    """The JSON of three processes: a race twice, a pool finding once."""
    paths = []
    for i, args in enumerate([["--watch", "__main__:CELL_CACHE", "cell_cache_nolock.py"],
                              ["--watch", "__main__:CELL_CACHE", "cell_cache_nolock.py"],
                              ["--executor-leak-count", "5", "pool_per_call.py"]]):
        path = str(tmp_path / f"p{i}.json")
        run_python(["-m", "cachewatch", "run", "--json", path] + args, cwd=SCENARIOS)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver_path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are not installed (apt-get)")
        pytest.skip("chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=driver_path))
    yield driver
    driver.quit()


def test_the_page_loads_draws_its_timeline_and_filters(tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    paths = _reports(tmp_path)
    page = tmp_path / "report.html"
    proc = run_python(["-m", "cachewatch", "report", "--format", "html", "--html", str(page),
                       "--srcroot", SCENARIOS] + paths)
    assert proc.returncode == 66, proc.stderr
    assert proc.stdout == page.read_text()  # printed and written alike
    assert "http" not in page.read_text().split("<script")[0].replace(
        "http-equiv", "")  # nothing loaded from the network
    browser.get(page.as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    findings = browser.find_elements(By.CSS_SELECTOR, ".finding")
    assert len(findings) == 2
    [timeline] = browser.find_elements(By.CSS_SELECTOR, "svg.timeline")
    assert timeline.get_attribute("data-lanes") == "3"  # the creator and two threads
    data = page.read_text().split('id="cw-data">', 1)[1].split("</script>", 1)[0]
    race_data = json.loads(data.replace("<\\/", "</"))["findings"][0]
    cur, prev = race_data["accesses"]  # the act's side first
    # the check acted on (of each side, if any), the other thread's access, the act
    steps = len(timeline.find_elements(By.CSS_SELECTOR, "circle.access"))
    assert steps == 2 + bool(cur["check"]) + bool(prev["check"])
    assert len(timeline.find_elements(By.CSS_SELECTOR, "line.handoff")) >= 2  # two starts
    # red dashes between the race's steps of two threads: check, other access, act
    assert len(timeline.find_elements(By.CSS_SELECTOR, "line.unordered")) == \
        1 + bool(cur["check"])
    race = findings[0]
    assert "Hint: hold one lock across the check and the act" in race.text
    # stacks are folded, and show their source lines when opened
    first = race.find_element(By.CSS_SELECTOR, "details")
    first.find_element(By.CSS_SELECTOR, "summary").click()
    assert "cell_cache_nolock.py:" in first.text and "CELL_CACHE" in first.text, first.text
    os.makedirs(ARTIFACTS, exist_ok=True)
    browser.save_screenshot(os.path.join(ARTIFACTS, "html-report.png"))
    # filters: by kind, then by process
    Select(browser.find_element(By.ID, "f-kind")).select_by_value("pool")
    visible = [f for f in findings if f.is_displayed()]
    assert len(visible) == 1 and "executor-leak" in visible[0].text
    assert browser.find_element(By.ID, "shown").text == "1 of 2 shown"
    Select(browser.find_element(By.ID, "f-kind")).select_by_value("")
    pool_pid = str(json.load(open(paths[2]))["pid"])
    Select(browser.find_element(By.ID, "f-process")).select_by_value(pool_pid)
    visible = [f for f in findings if f.is_displayed()]
    assert len(visible) == 1 and "executor-leak" in visible[0].text
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors


def test_html_path_and_the_pytest_option_write_the_page(tmp_path, pytester):
    page = tmp_path / "run.html"
    proc = run_python(["-m", "cachewatch", "run", "--watch", "__main__:CELL_CACHE", "--html",
                       str(page), "cell_cache_nolock.py"], cwd=SCENARIOS)
    assert proc.returncode == 66, proc.stderr
    data = page.read_text().split('id="cw-data">', 1)[1].split("</script>", 1)[0]
    [finding] = json.loads(data)["findings"]
    assert finding["category"] == "check-then-act" and finding["hint"]
    pytester.makepyfile(test_pool="""
        from concurrent.futures import ThreadPoolExecutor
        KEPT = []
        def test_leaky():
            for _ in range(6):
                KEPT.append(ThreadPoolExecutor(1))
                KEPT[-1].submit(int).result()
    """)
    out = pytester.path / "found.html"
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-executor-leak-count",
                                           "5", "--cachewatch-html", str(out))
    assert out.exists(), result.stdout.str()
    assert '"category": "executor-leak"' in out.read_text()


def test_an_unbounded_pool_shows_its_backlog_over_time(tmp_path, browser):
    from selenium.webdriver.common.by import By

    pytest.importorskip("futurist")
    page, data = tmp_path / "pool.html", tmp_path / "pool.json"
    proc = run_python(["-m", "cachewatch", "run", "--pool-backlog", "200", "--html", str(page),
                       "--json", str(data), "pool_unbounded_futurist.py"], cwd=SCENARIOS)
    [finding] = json.loads(data.read_text())["findings"]
    assert finding["category"] == "unbounded-pool", proc.stderr
    backlog = finding["backlog"]  # [ms since the pool was made, tasks waiting], at submits
    assert len(backlog) > 10 and backlog[-1][1] > 200 >= backlog[0][1]
    assert [t for t, _ in backlog] == sorted(t for t, _ in backlog)
    browser.get(page.as_uri())
    [chart] = browser.find_elements(By.CSS_SELECTOR, "svg.backlog")
    points = chart.find_element(By.CSS_SELECTOR, "polyline").get_attribute("points").split()
    assert len(points) == len(backlog)
    assert f"{max(n for _, n in backlog)} waiting" in chart.text
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_the_timeline_draws_each_threads_hand_offs_and_the_order_missing(tmp_path, browser):
    """A job handed over through a queue before the producer's own update:
    each thread's last sync events come with the report (the start and its
    begin, the put and its get), and the timeline draws them as arrows
    between the two threads' lanes, with the producer's check and act after
    its put and nothing from the worker's update back to them."""
    from selenium.webdriver.common.by import By

    page, data = tmp_path / "queue.html", tmp_path / "queue.json"
    run_python(["-m", "cachewatch", "run", "--watch", "__main__:COUNTS", "--json", str(data),
                "--html", str(page), "queue_publish_too_early.py"], cwd=SCENARIOS)
    [race] = json.loads(data.read_text())["findings"]
    main, worker = race["accesses"]
    assert (main["thread"], worker["thread"]) == ("MainThread", "worker")
    by_kind = lambda a, kind: [e for e in a["history"] if e["kind"] == kind]
    [put] = [e for e in by_kind(main, "publish") if e["label"] == "Queue.put"]
    [get] = [e for e in by_kind(worker, "consume") if e["label"] == "Queue.get"]
    assert put["object"] == get["object"] and put["seq"] < get["seq"]
    assert put["at"][0]["line"] == 23 and get["at"][0]["line"] == 16
    [start], [begin] = by_kind(main, "start"), by_kind(worker, "begin")
    assert start["object"] == begin["object"]
    # each access knows its place among its own thread's events
    assert main["check"]["events_before"] > put["n"] and main["events_before"] > put["n"]
    assert worker["events_before"] > get["n"]
    browser.get(page.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    [timeline] = browser.find_elements(By.CSS_SELECTOR, "svg.timeline")
    assert timeline.get_attribute("data-lanes") == "2"  # the main thread started the worker
    arrows = timeline.find_elements(By.CSS_SELECTOR, "line.handoff")
    titles = sorted(a.find_element(By.CSS_SELECTOR, "title").get_attribute("textContent")
                    for a in arrows)
    assert len(arrows) == 2, titles
    assert "Queue.put" in titles[0] and "Queue.get" in titles[0], titles
    assert titles[1].startswith("start"), titles
    x = lambda step: float(timeline.find_element(
        By.CSS_SELECTOR, f"circle.access[data-step='{step}']").get_attribute("cx"))
    put_arrow = [a for a in arrows if "Queue.put" in a.get_attribute("textContent")][0]
    put_x = float(put_arrow.get_attribute("x1"))
    assert put_x < x("check") < x("other") < x("act")
    finding = browser.find_element(By.CSS_SELECTOR, ".finding")
    browser.execute_script("arguments[0].scrollIntoView()", finding)
    os.makedirs(ARTIFACTS, exist_ok=True)
    finding.screenshot(os.path.join(ARTIFACTS, "html-timeline.png"))  # the README's picture


TWO_LOCKS = '''
import threading
import time

COUNTS = {}
A, B, SPARE = threading.Lock(), threading.Lock(), threading.Lock()


def bump(lock):
    with lock:  # each thread its own lock: they protect nothing from each other
        COUNTS["k"] = COUNTS.get("k", 0) + 1


def first():
    global DONE
    bump(A)
    for _ in range(40):  # more sync events than a report keeps of a thread
        with SPARE:
            pass
    DONE = True  # a plain flag: no order for the checker


DONE = False
a = threading.Thread(target=first, name="a")
b = threading.Thread(target=bump, args=(B,), name="b")
a.start()
while not DONE:
    time.sleep(0.01)
b.start()
b.join()
a.join()
'''


def test_the_timeline_draws_the_locks_each_thread_held_and_says_what_it_no_longer_has(
        tmp_path, browser):
    """Two threads each under a lock of its own: the timeline draws each
    lock as a bar on its holder's lane over its steps, and the first
    thread's 80 later lock events, more than a report keeps, are said to be
    missing between its steps and what is kept (never drawn as nothing
    happening there); SPARE, a lock one thread alone took at no step, is
    left out."""
    from selenium.webdriver.common.by import By

    (tmp_path / "two_locks.py").write_text(TWO_LOCKS)
    page, data = tmp_path / "locks.html", tmp_path / "locks.json"
    proc = run_python(["-m", "cachewatch", "run", "--watch", "__main__:COUNTS", "--json",
                       str(data), "--html", str(page), "two_locks.py"], cwd=tmp_path)
    [race] = json.loads(data.read_text())["findings"]
    assert race["category"] == "check-then-act", proc.stderr
    by_thread = {a["thread"]: a for a in race["accesses"]}
    first_kept = by_thread["a"]["history"][0]["n"]
    assert first_kept > by_thread["a"]["events_before"] + 16
    browser.get(page.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    [timeline] = browser.find_elements(By.CSS_SELECTOR, "svg.timeline")
    lanes = timeline.find_elements(By.CSS_SELECTOR, "line.lane")
    lane_of = {name: float(lanes[i].get_attribute("y1"))
               for i, name in enumerate(["creator", "b", "a"])}
    assert [t.text for t in timeline.find_elements(By.TAG_NAME, "text")][:3] == \
        ["creator", "thread 'b'", "thread 'a'"]
    bars = {}
    for bar in timeline.find_elements(By.CSS_SELECTOR, "rect.lockheld"):
        middle = float(bar.get_attribute("y")) + float(bar.get_attribute("height")) / 2
        title = bar.find_element(By.TAG_NAME, "title").get_attribute("textContent")
        bars.setdefault(middle, []).append(title)
    assert sorted(bars) == sorted([lane_of["a"], lane_of["b"]]), bars
    [held_by_a], [held_by_b] = bars[lane_of["a"]], bars[lane_of["b"]]
    assert held_by_a.startswith(by_thread["a"]["locks"][0].split()[0] + " ") and "Lock" in held_by_a
    assert held_by_b.startswith(by_thread["b"]["locks"][0].split()[0] + " ")
    assert held_by_a.split()[0] != held_by_b.split()[0]
    [gap] = timeline.find_elements(By.CSS_SELECTOR, "text.gap")
    assert gap.text == f"\u22ef {first_kept - by_thread['a']['events_before']} not kept"
    assert abs(float(gap.get_attribute("y")) - 20 - lane_of["a"]) < 1
    x = lambda step: float(timeline.find_element(
        By.CSS_SELECTOR, f"circle.access[data-step='{step}']").get_attribute("cx"))
    assert x("other") < float(gap.get_attribute("x")) + 24 < x("act")
