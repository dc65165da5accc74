"""pytest plugin for cachewatch: registered through the pytest11 entry point,
inert until asked (--cachewatch, or `cachewatch = true` in the ini file):
until then it loads no part of cachewatch and installs no hook.

When on, every finding is attributed to the test phase (setup, call,
teardown) during which it was made, that is when its second access
happened, and fails that test with the report as its failure text, unless
the test takes the `cachewatch_findings` fixture (then the findings are its
to assert on). The terminal summary lists every finding, and with
pytest-xdist the controller gathers the workers' findings and reports them
once.

Every option of cachewatch's option table is --cachewatch-NAME on the
command line and cachewatch_NAME in the ini file; --cachewatch-watch
repeats. The marker

    @pytest.mark.cachewatch(watch=["pkg.mod:CACHE"], threads=8, iterations=20)

watches targets for the test and runs its body in `threads` threads at once,
`iterations` times, each round started together behind a barrier."""
import json
import threading

import pytest

_STATE = pytest.StashKey()
_ENTRY = "cachewatch-findings"


def _table():
    # Pure data, generated from ext/engine/flags.inc at build time: reading it loads
    # nothing of the C core.
    from cachewatch._flag_table import FLAGS

    return FLAGS


def _opt(name):
    return "--cachewatch-" + name.replace("_", "-")


def pytest_addoption(parser):
    group = parser.getgroup("cachewatch", "cachewatch: races, leaking pools and threads")
    group.addoption("--cachewatch", action="store_true", default=None,
                    help="check the tests with cachewatch")
    parser.addini("cachewatch", type="bool", default=False, help="check the tests with cachewatch")
    for name, type_, default, help_ in _table():
        if name in ("exitcode", "print_reports"):
            continue  # pytest decides the exit status and what is shown
        arg_help = help_.replace("%", "%%")  # argparse %-formats option help, not ini help
        if name == "watch":
            group.addoption(_opt(name), action="append", default=[], metavar="TARGET",
                            help=arg_help + " May be repeated.")
            parser.addini("cachewatch_watch", type="linelist", default=[], help=help_)
            continue
        also = {"sarif_path": ["--cachewatch-sarif"],
                "html_path": ["--cachewatch-html"]}.get(name, [])
        group.addoption(_opt(name), *also, default=None,
                        metavar={"bool": "0|1", "int": "N", "str": "TEXT"}[type_],
                        help=f"{arg_help} (default {default})")
        parser.addini("cachewatch_" + name, default=None, help=help_)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cachewatch(watch=[], threads=1, iterations=1): watch targets for this "
        "test; run its body in many threads at once, many times")
    enabled = config.getoption("--cachewatch") or config.getini("cachewatch")
    if not enabled:
        return
    try:
        state = _State(config)
    except (ValueError, TypeError, OSError) as exc:
        # A mistake in the options: a usage error, said before any test runs.
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise pytest.UsageError(text if text.startswith("cachewatch") else
                                f"cachewatch: {text}") from None
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "cachewatch-state")
    config.add_cleanup(state.close)


class _Findings:
    """What the cachewatch_findings fixture gives a test."""

    def __init__(self, state):
        self._state = state
        self._before = state.snapshot()

    def __call__(self, category=None):
        """Findings made since the test began, new or seen again (of one
        category, if given)."""
        found = self._state.since(self._before)
        return [f for f in found if category is None or f["category"] == category]


class _State:
    """The plugin while it is on (one per process)."""

    def __init__(self, config):
        self.config = config
        self.worker = hasattr(config, "workerinput")  # an xdist worker
        # The xdist controller runs no test: it only gathers what workers found.
        self.controller = not self.worker and getattr(config.option, "dist", "no") != "no"
        self.collected = []   # (nodeid, when, finding) gathered here or from workers
        self.options = self._options()
        self.json_path = self.options.get("json_path", "")
        self.sarif_path = self.options.get("sarif_path", "")
        self.html_path = self.options.get("html_path", "")
        for option in ("json_path", "sarif_path", "html_path"):
            if self.options.get(option):
                _check_report_path(option, self.options[option])
        self.fail_on = self.options.get("fail_on", "all")
        self.started = False
        if not self.controller:
            import cachewatch

            watch = self.options.pop("watch", [])
            # pytest owns exit statuses and output capture.
            self.options.update(print_reports=0, exitcode=0, json_path="", sarif_path="",
                                html_path="")
            cachewatch.start(self.options, watch=watch)
            self.started = True
            from cachewatch import _cachewatch

            _cachewatch.omit_frames_under(_runner_dirs())

    def _options(self):
        opts = {}
        for name, type_, _default, _help in _table():
            if name in ("exitcode", "print_reports"):
                continue
            if name == "watch":
                opts["watch"] = (list(self.config.getini("cachewatch_watch")) +
                                 list(self.config.getoption(_opt("watch")) or []))
                continue
            value = self.config.getoption(_opt(name))
            if value is None:
                value = self.config.getini("cachewatch_" + name)
            if value not in (None, ""):
                opts[name] = value
        return opts

    # -- findings ----------------------------------------------------------

    def all(self):
        from cachewatch import report

        return report.findings()

    def snapshot(self):
        """How often each finding was seen so far."""
        return {f["id"]: f.get("hits", 1) for f in self.all()} if self.started else {}

    def since(self, snapshot):
        """Findings seen since the snapshot: new ones and ones seen again (a
        finding fails every phase it occurs in, whatever ran before)."""
        if not self.started:
            return []
        return [f for f in self.all() if f.get("hits", 1) > snapshot.get(f["id"], 0)]

    def text(self, finding):
        from cachewatch import _cachewatch

        return _cachewatch.format_report(finding["id"])

    # -- each test phase ----------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item):
        return (yield from self._phase(item, "setup"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item):
        return (yield from self._phase(item, "call"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item, nextitem):
        return (yield from self._phase(item, "teardown"))

    def _phase(self, item, when):
        if not self.started:
            return (yield)
        from cachewatch import _greenlets, _pools

        if when == "setup":
            _pools.begin_scope()  # threads started from here on are this test's
            marker = item.get_closest_marker("cachewatch")
            if marker is not None:
                import cachewatch

                for target in marker.kwargs.get("watch", ()):
                    cachewatch.watch(target)
        before = self.snapshot()
        try:
            result = yield
        except BaseException:
            # The phase failed on its own: keep its error, note the findings.
            self._made_during(item, when, self.since(before), fail=False)
            raise
        if when == "teardown":
            _pools.finish_scope(run_scope=False)  # this test's abandoned tasks, leaked threads
            _greenlets.check_leaks()
        self._made_during(item, when, self.since(before), fail=True)
        return result

    def _made_during(self, item, when, new, fail):
        if not new:
            return
        from cachewatch import report

        for finding in new:
            self.collected.append((item.nodeid, when, finding))
        item.user_properties.append((_ENTRY, json.dumps([[item.nodeid, when, f] for f in new])))
        if not fail or "cachewatch_findings" in getattr(item, "fixturenames", ()):
            return  # failing already, or the test asserts on them itself
        failing = [f for f in new if report.counts(f, self.fail_on)]
        if failing:
            # The reports are the failure's text (our own frames say nothing),
            # after a first line for pytest's short summary.
            texts = [self.text(f) for f in failing]
            pytest.fail("\n".join([_first_summary(texts, len(failing))] + texts), pytrace=False)

    # -- xdist: the controller gathers what workers found ---------------------

    def pytest_runtest_logreport(self, report):
        if not self.controller:
            return
        for key, value in getattr(report, "user_properties", ()):
            if key == _ENTRY:
                for nodeid, when, finding in json.loads(value):
                    self.collected.append((nodeid, when, finding))

    # -- the end ------------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter):
        if self.worker:
            return
        findings = self._merged()
        tr = terminalreporter
        tr.section("cachewatch")
        if self.started:  # what the targets name that could not be watched
            from cachewatch import _targets

            for line in _targets.said():
                tr.write_line(line)
        if not findings:
            tr.write_line("cachewatch: nothing found")
            return
        from cachewatch import merge, report

        for nodeids, finding in findings:
            lines = merge.describe(finding)
            tr.write_line(lines[0] + "  [" + ", ".join(sorted(nodeids)) + "]")
            for line in lines[1:]:
                tr.write_line(line)
        tr.write_line(report.summary_of([f for _, f in findings]))

    def _merged(self):
        """One entry per finding (the same one from several workers or
        tests counts once), with the tests that made it."""
        from cachewatch import merge

        merged = {}
        for nodeid, when, finding in self.collected:
            key = merge.key(finding)
            nodeids, seen = merged.get(key, (set(), finding))
            nodeids.add(f"{nodeid}::{when}")
            # Collected again when seen again: the latest has the whole count.
            merged[key] = (nodeids, max(seen, finding, key=lambda f: f.get("hits", 1)))
        return list(merged.values())

    def close(self):
        if (self.json_path or self.sarif_path or self.html_path) and not self.worker:
            from cachewatch import html, report, sarif

            data = [dict(finding, tests=sorted(nodeids)) for nodeids, finding in self._merged()]
            if self.json_path:
                report.write_json_data(self.json_path, {"findings": data})
            if self.sarif_path:
                from cachewatch import _cachewatch

                hidden = _cachewatch.suppressed_findings() if self.started else []
                sarif.write(self.sarif_path, data, str(self.config.rootpath), hidden)
            if self.html_path:
                html.write(self.html_path, data)
        if self.started:
            import cachewatch

            cachewatch.stop()
            self.started = False


def _check_report_path(option, path):
    import os

    from cachewatch import report

    directory = os.path.dirname(os.path.abspath(report.expand_path(path)))
    if not os.path.isdir(directory):
        raise OSError(f"cachewatch: {option} {path!r}: no such directory {directory!r}")


def _first_summary(texts, n):
    """The SUMMARY line of the first report, for pytest's one-line summary."""
    for line in texts[0].splitlines():
        if line.startswith("SUMMARY: "):
            more = f" (and {n - 1} more)" if n > 1 else ""
            return line[len("SUMMARY: "):] + more
    return f"cachewatch: {n} finding(s)"


def pytest_collection_modifyitems(session, config, items):
    """The marker's targets are checked before any test runs."""
    if config.stash.get(_STATE, None) is None:
        return
    from cachewatch import _targets

    for item in items:
        for marker in item.iter_markers("cachewatch"):
            for target in marker.kwargs.get("watch", ()):
                try:
                    for one in [t.strip() for t in str(target).split(",") if t.strip()]:
                        _targets.parse(one)
                except _targets.TargetError as exc:
                    raise pytest.UsageError(f"{item.nodeid}: {exc}") from None


def _runner_dirs():
    """Where pytest and the libraries that run it live: their frames say how
    a test was run, not what it did."""
    import os

    dirs = []
    for name in ("pytest", "_pytest", "pluggy", "xdist", "execnet", "pytest_cachewatch"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        path = getattr(module, "__file__", None)
        if path:
            base = os.path.dirname(path) if os.path.basename(path) == "__init__.py" else path
            dirs.append(base + (os.sep if os.path.isdir(base) else ""))
    return dirs


@pytest.fixture
def cachewatch_findings(request):
    """The findings made while this test runs, for it to assert on; they do
    not fail it. Call it: cachewatch_findings() or
    cachewatch_findings("check-then-act")."""
    state = request.config.stash.get(_STATE, None)
    if state is None or not state.started:
        pytest.skip("cachewatch is not on (--cachewatch)")
    return _Findings(state)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    marker = pyfuncitem.get_closest_marker("cachewatch")
    threads = int(marker.kwargs.get("threads", 1)) if marker else 1
    iterations = int(marker.kwargs.get("iterations", 1)) if marker else 1
    if threads <= 1 and iterations <= 1:
        return None  # pytest calls it as usual
    # Run the body ourselves: `threads` at once, `iterations` rounds, each
    # round started together so the bodies overlap.
    function = pyfuncitem.obj
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    barrier = threading.Barrier(threads)
    errors = []

    def body():
        for _ in range(iterations):
            try:
                barrier.wait()
                function(**kwargs)
            except threading.BrokenBarrierError:
                return
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                barrier.abort()
                return

    runners = [threading.Thread(target=body, name=f"cachewatch-body-{i}") for i in range(threads)]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    if errors:
        raise errors[0]
    return True
