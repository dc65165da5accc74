"""Nova's Service.reset() does `nova.context.CELL_CACHE = {}` from another
module while request threads fill the cache under their per-uuid locks: an
insert can land in the old dict, which nobody reads again. The per-uuid locks
do not help; the reset shares none of them."""
# CACHEWATCH-ARGS: --watch support.cellctx:CELL_CACHE
# EXPECT: lost-update support.cellctx.CELL_CACHE lines=21,20
import threading
import time

from support import cellctx
from support.cells import CELLS, Context


class Service:
    def reset(self):
        # Rebinding the name drops the old cache for everyone. (The wait for
        # a first insert orders nothing: it only looks at the cache, so the
        # run always has the interleaving that loses inserts.)
        while not cellctx.CELL_CACHE:
            time.sleep(0.001)
        cellctx.CELL_CACHE = {}


def api_worker():
    for _ in range(5):
        for cell in CELLS:
            cellctx.set_target_cell(Context(), cell)
        time.sleep(0.001)


def main():
    threads = [threading.Thread(target=api_worker, name=f"api-{i}") for i in range(3)]
    threads.append(threading.Thread(target=Service().reset, name="sighup"))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("cached:", sorted(cellctx.CELL_CACHE))


if __name__ == "__main__":
    main()
