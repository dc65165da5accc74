"""futurist: submit-to-run and run-to-result order the caller's accesses and
the task's. The caller fills before submitting, the task after starting; the
caller again only after result()."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: none
import futurist

CACHE = {}


def fill(key, who):
    if key not in CACHE:
        CACHE[key] = who
    else:
        CACHE[key] = CACHE[key] + "+" + who


def main():
    executor = futurist.ThreadPoolExecutor(max_workers=2)
    fill("k", "caller-before")
    executor.submit(fill, "k", "task").result()
    fill("k", "caller-after")
    executor.shutdown()
    print(CACHE)


if __name__ == "__main__":
    main()
