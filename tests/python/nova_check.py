"""Nova's own code (Debian python3-nova, Zed) driven by threads as Nova's API
workers drive it. Run by /usr/bin/python3 under cachewatch from test_nova.py.

Modes:
  set-target-cell  four API threads fill CELL_CACHE through set_target_cell
  no-lock          the same with nova.utils.synchronized made a no-op first
  reset            the same while Service.reset() rebinds CELL_CACHE
  load-cells       four threads call load_cells() (the database query faked)
  set-target-cell-io, no-lock-io
                   as set-target-cell and no-lock, with a cell's database
                   connection made when its context manager is (a short
                   sleep: under eventlet, a green switch inside the region)
  scatter-gather   four API threads each call scatter_gather_cells() over the
                   cells (which targets each cell, then spawns a greenthread
                   per cell and gathers their results over an eventlet queue)

With a second argument "green", Nova's services' own monkey patching comes
first (nova/cmd's `import nova.monkey_patch`): every thread is a greenthread,
threading's locks are eventlet's, time.sleep switches greenthreads."""
import sys

GREEN = sys.argv[2:3] == ["green"]
if GREEN:
    import nova.monkey_patch  # noqa: F401  (eventlet.monkey_patch(), as nova-api does)
import threading
import time
import types

import webob.dec  # noqa: F401  (nova.api.wsgi uses webob.dec without importing it)

import nova.utils

MODE = sys.argv[1] if len(sys.argv) > 1 else "set-target-cell"
CONNECTS = MODE.endswith("-io")
MODE = MODE[:-3] if CONNECTS else MODE
if MODE == "no-lock":
    nova.utils.synchronized = lambda name, *args, **kwargs: (lambda f: f)

import nova.conf  # noqa: E402
from nova import context as nova_context  # noqa: E402
from nova import objects  # noqa: E402
from nova import service as nova_service  # noqa: E402
from oslo_concurrency import lockutils  # noqa: E402

nova.conf.CONF([], project="nova", default_config_files=[])

if CONNECTS:
    from nova.db.main import api as nova_db

    made = nova_db.create_context_manager

    def create_context_manager(connection=None):
        time.sleep(0.001)  # connecting
        return made(connection)

    nova_db.create_context_manager = create_context_manager
lockutils.set_defaults("/tmp")


class CellMapping:
    def __init__(self, uuid):
        self.uuid = uuid
        self.identity = uuid
        self.database_connection = "sqlite://"
        self.transport_url = "none://"


MAPPINGS = [CellMapping(f"00000000-0000-0000-0000-00000000000{i}") for i in range(3)]


def api_worker():
    for _ in range(5):
        for cell in MAPPINGS:
            nova_context.set_target_cell(nova_context.RequestContext(), cell)
        time.sleep(0.001)


def reset_service():
    # Once the API workers have cached a cell and while they go on (a reset
    # under load), not before they have begun: a slow machine starts them late.
    deadline = time.monotonic() + 10
    while not nova_context.CELL_CACHE and time.monotonic() < deadline:
        time.sleep(0.0005)
    fake_self = types.SimpleNamespace(manager=types.SimpleNamespace(reset=lambda: None))
    nova_service.Service.reset(fake_self)  # nova/service.py: context.CELL_CACHE = {}


def fake_get_all(context):
    time.sleep(0.002)  # the database query
    return list(MAPPINGS)


def scatter_gather_worker():
    # What the API does for a server list: ask every cell, with a timeout.
    def per_cell(cell_context):
        time.sleep(0.001)  # the cell database query
        return cell_context.cell_uuid

    for _ in range(3):
        results = nova_context.scatter_gather_cells(
            nova_context.RequestContext(), MAPPINGS, 30, per_cell)
        assert sorted(results) == sorted(m.uuid for m in MAPPINGS), results


if MODE == "load-cells":
    objects.register_all()
    objects.CellMappingList.get_all = staticmethod(fake_get_all)
    targets = [nova_context.load_cells] * 4
elif MODE == "scatter-gather":
    targets = [scatter_gather_worker] * 4
elif MODE == "reset":
    targets = [api_worker] * 3 + [reset_service]
else:
    targets = [api_worker] * 4

threads = [threading.Thread(target=t, name=f"api-{i}") for i, t in enumerate(targets)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("cached cells:", len(nova_context.CELL_CACHE), "cells:", len(nova_context.CELLS))
