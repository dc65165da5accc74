"""The fixed twin of asyncio_wait_timeout: what the wait left pending is
cancelled at once."""
# CACHEWATCH-ARGS: --watch __main__:RESULTS
# EXPECT: none
import asyncio

RESULTS = {}


async def query(cell, seconds):
    await asyncio.sleep(seconds)
    RESULTS[cell] = "done"


async def main():
    tasks = [asyncio.create_task(query(cell, seconds)) for cell, seconds in
             (("cell1", 0.01), ("cell2", 0.4))]
    done, pending = await asyncio.wait(tasks, timeout=0.1)
    for task in pending:
        task.cancel()
    print("answered:", len(done), "timed out:", len(pending))
    await asyncio.sleep(0.5)  # the service goes on


if __name__ == "__main__":
    asyncio.run(main())
