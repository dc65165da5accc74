"""The fixed twin of asyncio_connect_once: the check and the store run in one
step of the task (no await between them: no other task can run there), and
the connection is made later, under the entry's own asyncio.Lock."""
# CACHEWATCH-ARGS: --watch __main__:CONNECTIONS
# EXPECT: none
import asyncio

CONNECTIONS = {}
connects = 0


class Entry:
    def __init__(self):
        self.lock = asyncio.Lock()
        self.conn = None


async def connection(host):
    if host not in CONNECTIONS:
        CONNECTIONS[host] = Entry()
    entry = CONNECTIONS[host]
    async with entry.lock:
        if entry.conn is None:
            entry.conn = await connect(host)
    return entry.conn


async def connect(host):
    global connects
    connects += 1
    await asyncio.sleep(0.001)
    return f"conn-{host}-{connects}"


async def main():
    await asyncio.gather(*(connection(f"db{i % 2}") for i in range(8)))
    print("connections made:", connects)


if __name__ == "__main__":
    asyncio.run(main())
