"""Scatter-gather over one executor for the run: each request fans out
sixteen tasks that read the shared read-only CONFIG, and the caller gathers
them with as_completed into RESULTS (written only by the caller)."""
from concurrent.futures import ThreadPoolExecutor, as_completed

SCALE = 1500          # requests
FANOUT = 16

CONFIG = {"weights": tuple(range(1, 33)), "scale": 3, "offset": 11}
RESULTS = {}
POOL = None           # one executor for the whole run


def score(request, shard):
    weights = CONFIG["weights"]
    total = CONFIG["offset"]
    for i, w in enumerate(weights):
        total += (request * 31 + shard * 7 + i) % 13 * w
    return shard, total * CONFIG["scale"]


def handle(request):
    futures = [POOL.submit(score, request, shard) for shard in range(FANOUT)]
    best = 0
    for future in as_completed(futures):
        _, value = future.result()
        best = max(best, value)
    RESULTS[request] = best


def run(scale):
    global POOL
    RESULTS.clear()
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="gather") as POOL:
        for request in range(scale):
            handle(request)
    return sum(RESULTS.values())
