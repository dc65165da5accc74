"""A counter kept per user in a module-level dict, updated by tasks: read,
await an audit write, store the new count. Each task holds an asyncio.Lock,
but only around the read: the await and the store are outside it, so two
tasks read the same count and one increment is lost."""
# CACHEWATCH-ARGS: --watch __main__:COUNTS
# EXPECT: check-then-act __main__.COUNTS lines=16,18
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
