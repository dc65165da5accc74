"""An asyncio service: requests arrive in batches of 200 tasks; each looks
its user up in a module-level cache and, on a miss, loads the profile (an
await: the database) under that user's own asyncio.Lock, double-checked,
then updates the user's hit count in one step (no await between its read
and its write). Correctly synchronised: cachewatch must stay silent."""
import asyncio

SCALE = 20000         # requests
BATCH = 200
USERS = 500

PROFILES = {}
HITS = {}
LOCKS = {}


async def load(user):
    await asyncio.sleep(0)  # the database
    return {"user": user, "plan": user % 3}


async def handle(request):
    user = (request * 7919) % USERS
    if user not in PROFILES:
        lock = LOCKS.setdefault(user, asyncio.Lock())
        async with lock:
            if user not in PROFILES:
                PROFILES[user] = await load(user)
    HITS[user] = HITS.get(user, 0) + 1
    return PROFILES[user]["plan"]


async def serve(scale):
    total = 0
    for start in range(0, scale, BATCH):
        plans = await asyncio.gather(*(handle(r) for r in range(start, min(scale, start + BATCH))))
        total += sum(plans)
    return total


def run(scale):
    PROFILES.clear()
    HITS.clear()
    LOCKS.clear()
    return asyncio.run(serve(scale)) + sum(HITS.values())
