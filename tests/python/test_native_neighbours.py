"""cachewatch's C core must not change how other native code in the process
works. libunwind exports the same _Unwind_* ABI as libgcc_s: linked before
it, it took over the unwinding of C++ exceptions for every C++ extension
loaded after cachewatch, and greenlet's (eventlet's, gevent's) aborted the
process when an exception was thrown into a greenlet."""
import subprocess
import sys
import textwrap

import pytest

from helpers import child_env


def test_an_exception_thrown_into_a_greenlet_after_cachewatch_loaded():
    pytest.importorskip("greenlet")
    script = textwrap.dedent("""
        import cachewatch._cachewatch   # the C core first, as under CACHEWATCH_OPTIONS
        import cachewatch
        cachewatch.start("native_stacks=1")
        import greenlet

        def body():
            try:
                main.switch()
            except ValueError:
                return "caught"

        main = greenlet.getcurrent()
        g = greenlet.greenlet(body)
        g.switch()
        print(g.throw(ValueError("x")))
        cachewatch.stop()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=child_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "caught"
