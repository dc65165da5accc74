"""The Python side of scenarios/embedded/host.c: a request handler that fills
a module-level cache with a check-then-act and no lock."""
import time

SESSIONS = {}


def handle(request):
    key = request % 3
    if key not in SESSIONS:
        time.sleep(0.001)  # look it up
        SESSIONS[key] = f"session-{key}"
    return SESSIONS[key]
