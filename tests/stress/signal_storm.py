"""(f) The report signal arriving again and again while findings are being
made and while the at-exit report is written.

Run with CACHEWATCH_OPTIONS="watch=__main__:STATE json_path=...
report_interval_s=1" (report_signal is SIGRTMIN+2 by default); argv: SECONDS
of racing, PERIOD between signals. WORKERS threads race on STATE (every key
a check-then-act; with dedup=0 a steady stream of findings, so the report
grows while it is being written); a daemon thread
sends SIGRTMIN+2 to the process every PERIOD seconds until the very end
(through both at-exit writes); the test sends more from outside. Prints
`exiting` when the main thread is done, then RESULT with the number of
findings and the signals it sent."""
import os
import signal
import sys
import threading
import time

from _common import result, scale

WORKERS = 4
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else scale(3.0, 20.0)
PERIOD = float(sys.argv[2]) if len(sys.argv) > 2 else 0.01
STATE = {}
sent = 0
handled_before = 0


def racer(n):
    end = time.monotonic() + SECONDS
    i = 0
    while time.monotonic() < end:
        i += 1
        k = (i // 2, n % 2)             # two threads per key: races
        if k not in STATE:
            STATE[k] = n


def sender():
    global sent
    while True:
        os.kill(os.getpid(), signal.SIGRTMIN + 2)
        sent += 1
        time.sleep(PERIOD)


def main():
    import cachewatch
    assert cachewatch.is_active(), "run with CACHEWATCH_OPTIONS"
    print("started", flush=True)
    threading.Thread(target=sender, daemon=True, name="signal-sender").start()
    ts = [threading.Thread(target=racer, args=(n,), name=f"racer-{n}") for n in range(WORKERS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    findings = len(cachewatch.findings())
    result(keys=len(STATE), findings=findings, sent_in_main=sent)
    print("exiting", flush=True)


if __name__ == "__main__":
    main()
