"""asyncio.wait with a timeout, as scatter_gather_cells does with threads:
the slow cell's task is left pending when the wait returns, and nothing
cancels it; it runs on, holding its connection, after its result stopped
mattering."""
# CACHEWATCH-ARGS: --watch __main__:RESULTS
# EXPECT: abandoned-task asyncio.Task lines=13,18,20
import asyncio

RESULTS = {}


async def query(cell, seconds):
    await asyncio.sleep(seconds)
    RESULTS[cell] = "done"


async def main():
    tasks = [asyncio.create_task(query(cell, seconds)) for cell, seconds in
             (("cell1", 0.01), ("cell2", 0.4))]
    done, pending = await asyncio.wait(tasks, timeout=0.1)
    print("answered:", len(done), "timed out:", len(pending))
    await asyncio.sleep(0.5)  # the service goes on


if __name__ == "__main__":
    asyncio.run(main())
