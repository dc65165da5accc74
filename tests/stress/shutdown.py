"""(d) Interpreter shutdown while threads still touch watched state.

Run with CACHEWATCH_OPTIONS="watch=__main__:STATE json_path=..." (the
service: report at exit), or with 'api' as second argument, in which case
the program starts cachewatch itself with the json_path given in
CW_STRESS_JSON. Before exiting it makes one known race (a check-then-act on
STATE between two joined threads), then leaves DAEMONS daemon threads
mutating and iterating STATE, LIST and SET forever and WORKERS non-daemon
threads doing so for another LINGER seconds, and exits by MODE:

  end       the main module returns
  sys_exit  sys.exit(3) from the main thread
  raise     an uncaught exception in the main thread (status 1)

The test checks the exit status, that the JSON report is valid and
complete, and that nothing hung or crashed."""
import os
import sys
import threading
import time

import cachewatch

MODE = sys.argv[1]
API = len(sys.argv) > 2 and sys.argv[2] == "api"
DAEMONS = 6
WORKERS = 3
LINGER = 0.4

STATE = {}
LIST = []
SET = set()
LOCK = threading.Lock()

if API:
    cachewatch.start(f"json_path={os.environ['CW_STRESS_JSON']} print_reports=0 "
                     "thread_leak_grace_ms=50")
    cachewatch.watch("__main__:STATE")
cachewatch.watch(LIST, name="__main__.LIST")
cachewatch.watch(SET, name="__main__.SET")


def racy(tag):
    for k in range(20):
        if (tag, k) not in STATE:
            STATE[(tag, k)] = threading.current_thread().name


def forever(n):
    i = 0
    while True:
        i += 1
        STATE[("d", n, i % 100)] = i
        STATE.get(("d", n, (i + 1) % 100))
        LIST.append(i)
        if len(LIST) > 1000:
            with LOCK:
                del LIST[:500]
        SET.add((n, i % 64))
        SET.discard((n, (i + 32) % 64))
        if i % 50 == 0:
            with LOCK:
                for _ in list(STATE):
                    pass


def linger(n):
    end = time.monotonic() + LINGER
    i = 0
    while time.monotonic() < end:
        i += 1
        with LOCK:
            STATE[("w", n)] = i
            LIST.append(-i)
        SET.add(("w", n, i % 10))


ts = [threading.Thread(target=racy, args=("r",), name=f"racer-{i}") for i in range(2)]
for t in ts:
    t.start()
for t in ts:
    t.join()
for n in range(DAEMONS):
    threading.Thread(target=forever, args=(n,), daemon=True, name=f"daemon-{n}").start()
for n in range(WORKERS):
    threading.Thread(target=linger, args=(n,), name=f"lingerer-{n}").start()
time.sleep(0.1)
print("exiting", MODE, flush=True)
if MODE == "sys_exit":
    sys.exit(3)
elif MODE == "raise":
    raise RuntimeError("main thread gives up")
