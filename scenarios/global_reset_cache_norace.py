"""The fixed twin of global_reset_cache: the reset happens only after the
request threads were joined, so every insert is ordered before it."""
# CACHEWATCH-ARGS: --watch support.cellctx:CELL_CACHE
# EXPECT: none
import threading

from support import cellctx
from support.cells import CELLS, Context


class Service:
    def reset(self):
        cellctx.CELL_CACHE = {}


def api_worker():
    for cell in CELLS:
        cellctx.set_target_cell(Context(), cell)


def main():
    threads = [threading.Thread(target=api_worker, name=f"api-{i}") for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Service().reset()
    # And a second round fills the new cache, still under per-uuid locks.
    threads = [threading.Thread(target=api_worker, name=f"api-{i}") for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("cached:", sorted(cellctx.CELL_CACHE))


if __name__ == "__main__":
    main()
