"""A logging-heavy worker pool: six pool threads each log several records
per job through a shared handler (whose lock is incidental to the program's
state) and count jobs by kind in COUNTS under their own lock."""
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

SCALE = 6000          # jobs
WORKERS = 6
BATCH = 200

COUNTS = {}
COUNTS_LOCK = threading.Lock()
log = logging.getLogger("bench.workloads.logging_pool")


def job(i):
    kind = ("resize", "migrate", "rebuild", "snapshot")[i % 4]
    log.info("job %d: %s starting", i, kind)
    checksum = 0
    for j in range(200):
        checksum = (checksum * 31 + i + j) & 0xFFFF
    log.debug("job %d: checksum %d", i, checksum)
    log.info("job %d: %s done", i, kind)
    with COUNTS_LOCK:
        COUNTS[kind] = COUNTS.get(kind, 0) + 1
    return checksum


def run(scale):
    COUNTS.clear()
    handler = logging.FileHandler(os.devnull)
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        total = 0
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            # In batches: a backlog with no bound is a finding of its own.
            for start in range(0, scale, BATCH):
                total += sum(pool.map(job, range(start, min(start + BATCH, scale))))
    finally:
        log.removeHandler(handler)
        handler.close()
    return total + sum(COUNTS.values())
