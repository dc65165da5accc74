"""A cell cache filled by gevent greenlets: each checks for the cell and,
when it is missing, loads it (a green sleep: the database call) and stores
it. Every greenlet that checks while another is loading loads it again."""
# CACHEWATCH-ARGS: --watch __main__:CELLS
# EXPECT: check-then-act __main__.CELLS lines=15,17
import gevent
import gevent.pool

CELLS = {}
loads = 0


def get_cell(uuid):
    global loads
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
    print("loads:", loads)


if __name__ == "__main__":
    main()
