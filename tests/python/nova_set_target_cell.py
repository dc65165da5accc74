"""Nova's real set_target_cell (Debian python3-nova, Zed) from four API
threads over three cells, as Nova's API workers do. Run by /usr/bin/python3
under cachewatch from test_nova.py. With --no-lock, nova.utils.synchronized
is made a no-op first: the same code without its per-uuid lock."""
import sys
import threading
import time

import nova.utils

if "--no-lock" in sys.argv:
    nova.utils.synchronized = lambda name, *args, **kwargs: (lambda f: f)

import nova.conf  # noqa: E402
from nova import context as nova_context  # noqa: E402
from oslo_concurrency import lockutils  # noqa: E402

nova.conf.CONF([], project="nova", default_config_files=[])
lockutils.set_defaults("/tmp")


class CellMapping:
    def __init__(self, uuid):
        self.uuid = uuid
        self.database_connection = "sqlite://"
        self.transport_url = "none://"


CELLS = [CellMapping(f"00000000-0000-0000-0000-00000000000{i}") for i in range(3)]


def api_worker():
    for _ in range(5):
        for cell in CELLS:
            nova_context.set_target_cell(nova_context.RequestContext(), cell)
        time.sleep(0.001)


threads = [threading.Thread(target=api_worker, name=f"api-{i}") for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("cached cells:", len(nova_context.CELL_CACHE))
