"""Start cachewatch when the interpreter starts, from the environment alone.

The cachewatch.pth file installed with the package runs process_startup()
only when CACHEWATCH_OPTIONS (or CACHEWATCH=1) is set; otherwise it imports
nothing. Bad options give one line and leave the program running unchecked."""
import os
import sys

_started = False


def process_startup():
    """Idempotent: the .pth file can be seen twice."""
    global _started
    text = os.environ.get("CACHEWATCH_OPTIONS", "")
    if _started or (not text.strip() and os.environ.get("CACHEWATCH", "") in ("", "0")):
        return
    _started = True
    if not _in_main_interpreter():
        return  # a subinterpreter shares the process: the main one checks it
    from . import _api, _service

    try:
        _api.start()
    except (ValueError, OSError) as exc:
        message = str(exc)
        if not message.startswith("cachewatch"):
            message = f"cachewatch: {message}"
        sys.stderr.write(f"{message}; not started\n")
        return
    _service.run()


def _in_main_interpreter():
    for name in ("_interpreters", "_xxsubinterpreters"):  # 3.13+, 3.8-3.12
        try:
            interpreters = __import__(name)
        except ImportError:
            continue
        return interpreters.get_current() == interpreters.get_main()
    return True
