"""The fixed twin of gevent_cell_cache: a per-cell gevent lock is held across
the check, the load (which switches greenlets) and the store, and the parent
reads the cells only after joining the pool."""
# CACHEWATCH-ARGS: --watch __main__:CELLS
# EXPECT: none
import gevent
import gevent.lock
import gevent.pool

CELLS = {}
LOCKS = {"cell0": gevent.lock.Semaphore(), "cell1": gevent.lock.Semaphore()}
loads = 0


def get_cell(uuid):
    with LOCKS[uuid]:
        if uuid not in CELLS:
            cell = load_cell(uuid)
            CELLS[uuid] = cell
    return CELLS[uuid]


def load_cell(uuid):
    global loads
    loads += 1
    gevent.sleep(0.001)
    return {"uuid": uuid, "load": loads}


def main():
    pool = gevent.pool.Pool(8)
    for i in range(8):
        pool.spawn(get_cell, f"cell{i % 2}")
    pool.join()
    for uuid in ("cell0", "cell1"):
        cell = CELLS[uuid]
        gevent.sleep(0)
        CELLS[uuid] = dict(cell, seen=True)
    print("loads:", loads)


if __name__ == "__main__":
    main()
