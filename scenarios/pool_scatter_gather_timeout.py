"""Nova's scatter_gather_cells() waits for every cell with a timeout and puts a
sentinel for cells that did not answer. A future cannot be stopped once it
runs: the slow cell's query goes on in the background after the caller gave
up, holding a worker and a database connection."""
# CACHEWATCH-ARGS:
# EXPECT: abandoned-task concurrent.futures.ThreadPoolExecutor lines=11,15,21
import time
from concurrent.futures import ThreadPoolExecutor, wait

DID_NOT_RESPOND = object()
EXECUTOR = ThreadPoolExecutor(max_workers=4)


def query_cell(cell):
    time.sleep(0.4 if cell == "cell-slow" else 0.01)
    return f"{cell}: ok"


def scatter_gather(cells, timeout):
    futures = {EXECUTOR.submit(query_cell, cell): cell for cell in cells}
    done, not_done = wait(futures, timeout=timeout)
    results = {futures[f]: f.result() for f in done}
    for f in not_done:
        results[futures[f]] = DID_NOT_RESPOND
    return results


def main():
    results = scatter_gather(["cell-a", "cell-b", "cell-slow"], timeout=0.1)
    print(sorted(k for k, v in results.items() if v is DID_NOT_RESPOND))
    EXECUTOR.shutdown()


if __name__ == "__main__":
    main()
