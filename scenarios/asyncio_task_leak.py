"""Fire and forget: a task started to refresh a cache in the background is
never awaited; when main() returns it is still pending, and asyncio.run
cancels it half done."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: thread-leak asyncio.Task lines=17
import asyncio

CACHE = {}


async def refresh():
    await asyncio.sleep(1)
    CACHE["fresh"] = True


async def main():
    asyncio.create_task(refresh())
    await asyncio.sleep(0.01)
    print("main done")


if __name__ == "__main__":
    asyncio.run(main())
