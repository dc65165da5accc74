"""Nova's load_cells(): `global CELLS; if not CELLS: CELLS = get_all()` with
no lock, called by four API threads at start-up. Several of them can run the
query and rebind CELLS; the report names the line of the rebinding and the
check it acted on, and the other thread's access."""
# CACHEWATCH-ARGS: --watch support.cellctx:CELLS
# EXPECT: check-then-act support.cellctx.CELLS lines=34,35
import threading

from support import cellctx


def api_worker():
    cells = cellctx.load_cells()
    assert len(cells) == 3


def main():
    threads = [threading.Thread(target=api_worker, name=f"api-{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("cells:", cellctx.CELLS)


if __name__ == "__main__":
    main()
