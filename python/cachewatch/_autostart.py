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
        # The engine is the process's, run by the main interpreter: code in a
        # sub-interpreter (where uWSGI runs an application unless told
        # otherwise) is not checked. Said, so silence is not read as "no races".
        sys.stderr.write("cachewatch: code run in a sub-interpreter is not checked (under uWSGI: "
                         "--single-interpreter)\n")
        return
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
