"""Run the differential state machines in this process with cachewatch
checking (a child of tests/python/test_differential.py).

    python run_machines.py --machines dict,list,set --examples 100 --steps 30 \
        [--seed N] [--derandomize] [--json out.json] [--no-cachewatch]

Prints what ran (sequences, steps, per mode), the documented limitations
seen and the engine's state, and writes the same as JSON. Exit status 0 when
every machine passed, 1 when one found a divergence (hypothesis prints the
shrunk steps and the seed to reproduce it)."""
import argparse
import json
import os
import random
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--machines", default="dict,list,set")
    ap.add_argument("--examples", type=int, default=100)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--derandomize", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-cachewatch", action="store_true",
                    help="run the machines with nothing watched (harness check)")
    args = ap.parse_args(argv)

    import hypothesis
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    import machines

    watching = not args.no_cachewatch
    if watching:
        machines.pipe_worker()  # before start(): a thread cachewatch cannot order
        import cachewatch
        from cachewatch import _cachewatch

        cachewatch.start("print_reports=0 thread_leaks=0")
    else:
        for cls in machines.MACHINES.values():
            cls.WATCHING = False

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 32)
    print(f"differential: seed {seed} (rerun with --seed {seed}), machines {args.machines}, "
          f"max_examples {args.examples}, steps {args.steps}, "
          f"known bugs {'included' if machines.INCLUDE_KNOWN else 'left out'}", flush=True)
    result = {"seed": seed, "machines": {}, "failures": {}}
    for name in args.machines.split(","):
        cls = machines.MACHINES[name]
        hypothesis.core.global_force_seed = None if args.derandomize else seed
        s = settings(max_examples=args.examples, stateful_step_count=args.steps, database=None,
                     deadline=None, derandomize=args.derandomize, print_blob=True,
                     suppress_health_check=list(HealthCheck))
        start = time.monotonic()
        before = machines.COUNTS[f"{name}.sequences"]
        try:
            run_state_machine_as_test(cls, settings=s)
        except BaseException as exc:  # a divergence: report it, go on
            if isinstance(exc, KeyboardInterrupt):
                raise
            result["failures"][name] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            print(f"differential: {name} FAILED\n{result['failures'][name]}", flush=True)
        took = time.monotonic() - start
        ran = machines.COUNTS[f"{name}.sequences"] - before
        result["machines"][name] = {"sequences": ran, "seconds": round(took, 2)}
        print(f"differential: {name}: {ran} sequences in {took:.1f}s", flush=True)

    result["counts"] = dict(sorted(machines.COUNTS.items()))
    result["limitations"] = dict(sorted(machines.LIMITATIONS.items()))
    result["sequences"] = sum(m["sequences"] for m in result["machines"].values())
    if watching:
        result["has_failed"] = bool(_cachewatch.has_failed())
        result["stats"] = {k: v for k, v in _cachewatch.stats().items()
                           if not isinstance(v, dict)}
        found = cachewatch.findings()
        result["findings"] = len(found)
        result["findings_on_machines"] = sum(
            1 for f in found if str(f.get("target", "")).startswith("diff."))
        cachewatch.stop(quiet=True)
    for k, v in result["counts"].items():
        print(f"  {k}: {v}")
    for k, v in result["limitations"].items():
        print(f"  limitation: {k} ({v} times)")
    print(f"differential: {result['sequences']} sequences in all; "
          f"has_failed={result.get('has_failed')}; findings={result.get('findings')} "
          f"({result.get('findings_on_machines')} on the machines' containers)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
