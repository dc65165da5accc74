"""Build cachewatch: the C extension cachewatch._cachewatch and the Python
layer under python/cachewatch. The extension is required: a build without a
C compiler fails loudly. libunwind is optional: without it native stacks are
unavailable and the checker says so when asked for them."""
import os
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINE = ["hashtable", "vclock", "depot", "thread", "lockset", "sync", "shadow",
          "report", "report_print", "suppress", "flags", "engine"]
BINDING = ["runtime", "stack", "frames_internal", "unwind", "hooks_dict", "hooks_lock", "hooks_sync",
           "hooks_thread", "hooks_global", "containers", "hooks_list", "hooks_set", "module"]


def have_libunwind():
    """True when a program using libunwind compiles and links here."""
    if os.environ.get("CACHEWATCH_NO_LIBUNWIND"):
        return False
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "t.c")
        with open(src, "w") as f:
            f.write("#define UNW_LOCAL_ONLY\n#include <libunwind.h>\n"
                    "int main(void){unw_context_t c; return unw_getcontext(&c);}\n")
        try:
            subprocess.run(cc + [src, "-o", os.path.join(tmp, "t"), "-lunwind"],
                           check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            return False
    return True


UNWIND = have_libunwind()
if not UNWIND:
    sys.stderr.write("cachewatch: libunwind not found (apt-get install libunwind-dev); "
                     "building without native stacks\n")

extra = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra"]
if os.environ.get("CACHEWATCH_WERROR"):
    extra.append("-Werror")

ext = Extension(
    "cachewatch._cachewatch",
    sources=[f"ext/{name}.c" for name in ENGINE + BINDING],
    include_dirs=["ext"],
    define_macros=[("CW_HAVE_LIBUNWIND", "1" if UNWIND else "0")],
    libraries=(["unwind"] if UNWIND else []) + ["dl"],
    extra_compile_args=extra,
    depends=[os.path.join("ext", f) for f in os.listdir(os.path.join(HERE, "ext"))
             if f.endswith((".h", ".inc"))],
)


class BuildPyWithPth(build_py):
    """Also install cachewatch.pth (activation by environment variable)."""

    def run(self):
        super().run()
        pth = os.path.join(HERE, "python", "cachewatch.pth")
        if os.path.exists(pth):
            self.copy_file(pth, os.path.join(self.build_lib, "cachewatch.pth"))


setup(
    name="cachewatch",
    version="0.1.0",
    description="A runtime concurrency checker for Python: races on shared caches, leaking pools.",
    package_dir={"": "python"},
    packages=["cachewatch"],
    ext_modules=[ext],
    python_requires=">=3.9",
    install_requires=["bytecode>=0.15"],
    cmdclass={"build_py": BuildPyWithPth},
    entry_points={"console_scripts": ["cachewatch=cachewatch.__main__:main"]},
)
