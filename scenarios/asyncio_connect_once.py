"""An asyncio connection cache: each task looks for its key and, when it is
missing, awaits a connect and stores the result. Every task that checks
while another is still connecting connects again (one connection per waiting
task, all but one leaked). The await between the check and the store is
where another task runs."""
# CACHEWATCH-ARGS: --watch __main__:CONNECTIONS
# EXPECT: check-then-act __main__.CONNECTIONS lines=16,18
import asyncio

CONNECTIONS = {}
connects = 0


async def connection(host):
    global connects
    if host not in CONNECTIONS:
        conn = await connect(host)
        CONNECTIONS[host] = conn
    return CONNECTIONS[host]


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
