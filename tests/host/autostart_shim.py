"""Copied as sitecustomize.py into the PYTHONPATH directory given to an
interpreter that sees cachewatch only through PYTHONPATH (Debian's
/usr/bin/python3), where cachewatch.pth is never read: it does what that .pth
line does, then runs the sitecustomize it shadows, so plain and watched runs
differ by CACHEWATCH_OPTIONS alone."""
import os
import sys

if os.environ.get("CACHEWATCH_OPTIONS", "").strip() or \
        os.environ.get("CACHEWATCH", "") not in ("", "0"):
    try:
        import cachewatch._autostart as _cw
        _cw.process_startup()
    except Exception as _e:  # as the .pth line: say so, run on unchecked
        sys.stderr.write("cachewatch: not started (%s)\n" % _e)


def _run_shadowed():
    """Debian's own sitecustomize (apport's hook), found past this one."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


_run_shadowed()
