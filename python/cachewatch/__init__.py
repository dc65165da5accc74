"""cachewatch: a runtime concurrency checker for Python.

    import cachewatch
    cachewatch.start()
    cachewatch.watch("myapp.cache:CACHE")   # or watch(some_dict, name="...")
    ...
    for finding in cachewatch.findings(): ...

It reports unsynchronised check-then-act, conflicting writes, iteration
racing a resize and lost updates on watched containers and module-level
names, with both threads' stacks, the locks they held and where they were
created, and pools and threads that grow or run on unobserved; it stays
silent about code ordered by locks, queues, events, joins and futures.

Importing the package loads nothing else: the C core is loaded by the first
call (so the pytest plugin and the start-up hook cost nothing when off).

PYTEST_DONT_REWRITE: pytest marks the package of its plugin for assertion
rewriting; under `cachewatch run -m pytest` it is imported already, and has
no assertions to rewrite."""

__all__ = ["start", "stop", "watch", "unwatch", "findings", "clear", "checking",
           "is_active", "write_json", "benign", "TargetError"]


def __getattr__(name):
    if name in __all__:
        from . import _api

        return getattr(_api, name)
    raise AttributeError(f"module 'cachewatch' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + __all__)
