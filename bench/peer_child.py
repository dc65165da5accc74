"""One workload of bench/workloads/, run as a script (bench/peers.py runs it
under each tool): PEER_WORKLOAD names it, PEER_SCALE sizes it. Prints one
JSON line: wall time of run(), peak RSS of this process, the checksum."""
import importlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from macro import peak_rss_kb  # noqa: E402  (after the path)


def main():
    module = importlib.import_module(f"workloads.{os.environ['PEER_WORKLOAD']}")
    t0 = time.perf_counter()
    checksum = module.run(int(os.environ["PEER_SCALE"]))
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "peak_rss_kb": peak_rss_kb(), "checksum": checksum}),
          flush=True)


if __name__ == "__main__":
    main()
