"""The fixed twin of asyncio_task_leak: the background task is kept and
awaited before main() returns."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: none
import asyncio

CACHE = {}


async def refresh():
    await asyncio.sleep(0.05)
    CACHE["fresh"] = True


async def main():
    task = asyncio.create_task(refresh())
    await asyncio.sleep(0.01)
    await task
    print("main done")


if __name__ == "__main__":
    asyncio.run(main())
