"""Shared by the stress children: scale, results and the engine's counters.

Each child prints one line `RESULT {json}` on stdout that the test checks;
CACHEWATCH_FULL=1 in the environment makes every scenario bigger."""
import json
import os
import sys

FULL = os.environ.get("CACHEWATCH_FULL", "") not in ("", "0")


def scale(ci, full):
    return full if FULL else ci


def result(**values):
    sys.stdout.write("RESULT " + json.dumps(values, sort_keys=True) + "\n")
    sys.stdout.flush()


def engine_stats():
    from cachewatch import _cachewatch
    return _cachewatch.stats()


def memory():
    """Engine bytes live now, by kind, and their total."""
    s = engine_stats()
    return dict(s["memory"], total=s["memory_bytes"])
