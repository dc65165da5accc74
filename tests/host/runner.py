"""Plain against watched for one suite: run both, compare per-test outcomes,
and give timing tests one honest second chance.

Flakiness: test_threading, test_logging and test_concurrent_futures have
timing-dependent tests. A test whose outcome differs is run again, alone
with the others that differed, once plain and once watched (fresh
processes). It is called flaky, and not a divergence, only if those two
re-runs agree with each other; a difference that repeats is a divergence.
Flaky tests are listed in the verdict, never dropped silently."""
from dataclasses import dataclass, field

from . import compare, launch

RERUN_LIMIT = 20   # more differing tests than this is not timing noise


@dataclass
class Verdict:
    suite: str
    mode: str                       # the mode compared against plain
    plain: object                   # launch.Run
    other: object                   # launch.Run
    divergences: list = field(default_factory=list)  # (id, plain, watched)
    excused: list = field(default_factory=list)      # (id, plain, watched, reason)
    stale_allowances: list = field(default_factory=list)
    flaky: list = field(default_factory=list)        # (id, first diff, re-run outcomes)
    problems: list = field(default_factory=list)     # crashes, hangs, not started...

    @property
    def compared(self):
        return len(set(self.plain.outcomes) & set(self.other.outcomes))

    def ok(self):
        return not (self.divergences or self.problems or self.stale_allowances)

    def text(self):
        lines = [f"{self.suite} plain vs {self.mode}: {self.compared} tests compared "
                 f"(plain {self.plain.elapsed:.1f}s, {self.mode} {self.other.elapsed:.1f}s)"]
        for p in self.problems:
            lines.append(f"  PROBLEM: {p}")
        if self.divergences:
            lines.append("  DIVERGENCES:")
            lines.append(compare.describe(self.divergences, self.other.details))
        for test_id, a, b, reason in self.excused:
            lines.append(f"  allowed: {test_id}: plain={a} {self.mode}={b} ({reason})")
        for test_id in self.stale_allowances:
            lines.append(f"  STALE allow-list entry (no longer differs; remove it): {test_id}")
        for test_id, first, again in self.flaky:
            lines.append(f"  flaky: {test_id}: first {first}, re-run plain={again[0]} "
                         f"{self.mode}={again[1]}")
        return "\n".join(lines)


def _problems(run):
    return [f"{run.mode} run: {p}" for p in run.problems()]


def compare_suite(suite, mode="watched", full=False, allowed=None, rerun=True):
    """Run the suite plain and in `mode`; returns a Verdict."""
    names = suite.names(full)
    plain = launch.run_suite(suite, "plain", names)
    other = launch.run_suite(suite, mode, names)
    verdict = Verdict(suite.name, mode, plain, other)
    verdict.problems = _problems(plain) + _problems(other)
    diffs = compare.differences(plain.outcomes, other.outcomes)
    if verdict.problems:
        # A crash or hang leaves tests missing; the problem says why, and
        # a re-run would hide it.
        diffs = [d for d in diffs if compare.MISSING not in d[1:]]
        rerun = False
    if rerun and diffs and len(diffs) <= RERUN_LIMIT:
        diffs = _second_chance(suite, mode, diffs, allowed or {}, verdict)
    unexplained, excused, stale = compare.split_allowed(diffs, allowed or {})
    verdict.divergences, verdict.excused = unexplained, excused
    # An allowance is stale only if its test ran in both and agreed.
    ran = set(plain.outcomes) & set(other.outcomes)
    verdict.stale_allowances = [t for t in stale if t in ran]
    return verdict


def _second_chance(suite, mode, diffs, allowed, verdict):
    """Re-run the differing tests once in each mode; keep the diffs that
    repeat. Allowed diffs are not re-run: they are expected every time."""
    todo = [d for d in diffs if d[0] not in allowed]
    if not todo:
        return diffs
    names = sorted({compare.rerun_name(d[0]) for d in todo})
    again_plain = launch.run_suite(suite, "plain", names)
    again_other = launch.run_suite(suite, mode, names)
    verdict.problems += [f"re-run: {p}" for p in _problems(again_plain) + _problems(again_other)]
    kept = [d for d in diffs if d[0] in allowed]
    for d in todo:
        a = again_plain.outcomes.get(d[0], compare.MISSING)
        b = again_other.outcomes.get(d[0], compare.MISSING)
        if a == b and a != compare.MISSING:
            verdict.flaky.append((d[0], f"plain={d[1]} {mode}={d[2]}", (a, b)))
        else:
            kept.append(d)
            if b != compare.MISSING:
                other_details = again_other.details.get(d[0])
                if other_details:
                    verdict.other.details.setdefault(d[0], other_details)
    return sorted(kept)
