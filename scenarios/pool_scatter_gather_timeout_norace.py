"""The fixed twin of pool_scatter_gather_timeout: the caller waits for every
cell, so nothing runs on unobserved."""
# CACHEWATCH-ARGS:
# EXPECT: none
import time
from concurrent.futures import ThreadPoolExecutor, wait

EXECUTOR = ThreadPoolExecutor(max_workers=4)


def query_cell(cell):
    time.sleep(0.2 if cell == "cell-slow" else 0.01)
    return f"{cell}: ok"


def scatter_gather(cells):
    futures = {EXECUTOR.submit(query_cell, cell): cell for cell in cells}
    done, _ = wait(futures)
    return {futures[f]: f.result() for f in done}


def main():
    results = scatter_gather(["cell-a", "cell-b", "cell-slow"])
    print(sorted(results))
    EXECUTOR.shutdown()


if __name__ == "__main__":
    main()
