"""The fixed twin of asyncio_lock_across_await: the asyncio.Lock is held
across the read, the await and the store, so no other task's update can land
between them."""
# CACHEWATCH-ARGS: --watch __main__:COUNTS
# EXPECT: none
import asyncio

COUNTS = {}
LOCK = None  # made under the running loop (3.9 binds a lock to a loop)
audit = []


async def record_visit(user):
    async with LOCK:
        count = COUNTS.get(user, 0)
        await write_audit(user)
        COUNTS[user] = count + 1


async def write_audit(user):
    await asyncio.sleep(0)
    audit.append(user)


async def main():
    global LOCK
    LOCK = asyncio.Lock()
    await asyncio.gather(*(record_visit("alice") for _ in range(5)))
    print("visits:", COUNTS, "audited:", len(audit))


if __name__ == "__main__":
    asyncio.run(main())
