"""Instructions per iteration of a workload, counted by valgrind's callgrind:
repeatable where wall time is not. A workload runs in a child process twice,
with n and 2n iterations; the difference divided by n is the cost of one
iteration, free of start-up costs."""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def available():
    return shutil.which("valgrind") is not None


def _collected(args, env):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                               sys.executable] + args, capture_output=True, text=True, env=env)
        m = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or m is None:
            raise RuntimeError(f"callgrind run failed: {done.stderr[-500:]}")
        return int(m.group(1))


def per_iteration(script_args, n, env=None):
    """Instructions of one iteration: script_args are passed the count last;
    env (default: this process's) is the child's whole environment."""
    env = dict(os.environ if env is None else env)
    # A fixed hash seed: string hashing decides dict probing, hence counts.
    env["PYTHONHASHSEED"] = "0"
    one = _collected(script_args + [str(n)], env)
    two = _collected(script_args + [str(2 * n)], env)
    return (two - one) / n
