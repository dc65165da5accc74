"""Build cachewatch: the C extension cachewatch._cachewatch and the Python
layer under python/cachewatch. The extension is required: a build without a
C compiler fails loudly, and so does one without RE2 (Debian's libre2-dev),
which matches the `redact` option in linear time. libunwind is optional:
without it native stacks are unavailable and the checker says so when asked
for them."""
import ast
import os
import re
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINE = ["memory", "hashtable", "vclock", "depot", "thread", "lockset", "sync", "shadow",
          "report", "report_print", "suppress", "redact", "text", "flags", "engine"]
BINDING = ["runtime", "key_text", "sync_objects", "stack", "frames_internal", "unwind", "hooks_dict", "hooks_lock", "hooks_sync",
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

extra = ["-D_GNU_SOURCE", "-Wall", "-Wextra"]
if os.environ.get("CACHEWATCH_WERROR"):
    extra.append("-Werror")
# Per language: the engine is C11; its one C++ file (linear_re.cc) wraps RE2.
STD = {".c": "-std=c11", ".cc": "-std=c++17"}

ext = Extension(
    "cachewatch._cachewatch",
    sources=[f"ext/{name}.c" for name in ENGINE + BINDING] + ["ext/linear_re.cc"],
    include_dirs=["ext"],
    define_macros=[("CW_HAVE_LIBUNWIND", "1" if UNWIND else "0")],
    libraries=(["unwind"] if UNWIND else []) + ["re2", "stdc++", "dl"],
    extra_compile_args=extra,
    depends=[os.path.join("ext", f) for f in os.listdir(os.path.join(HERE, "ext"))
             if f.endswith((".h", ".inc"))],
)


def flag_table_source():
    """ext/flags.inc as Python data, for code that must not load the C core
    (the pytest plugin). Generated at build time: flags.inc stays the one
    source."""
    with open(os.path.join(HERE, "ext", "flags.inc")) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    rows = []
    for m in re.finditer(r"CW_FLAG\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\"(?:[^\"\\\\]|\\\\.)*\"|[-\w]+)\s*,"
                         r"((?:\s*\"(?:[^\"\\\\]|\\\\.)*\")+)\s*\)", text):
        type_, name, default, help_ = m.groups()
        helps = "".join(ast.literal_eval(h) for h in re.findall(r'"(?:[^"\\\\]|\\\\.)*"', help_))
        rows.append((name, type_, default, helps))
    return ('"""Generated from ext/flags.inc by setup.py: do not edit."""\n'
            f"FLAGS = {rows!r}\n")


def write_flag_table(package_dir):
    path = os.path.join(package_dir, "cachewatch", "_flag_table.py")
    source = flag_table_source()
    if not os.path.exists(path) or open(path).read() != source:
        with open(path, "w") as f:
            f.write(source)


class BuildExtWithTable(build_ext):
    def run(self):
        write_flag_table(os.path.join(HERE, "python"))
        super().run()

    def build_extensions(self):
        # One compiler command serves C and C++ sources: give each file the
        # language standard of its own language.
        compile_one = self.compiler._compile

        def _compile(obj, src, ext, cc_args, extra_postargs, pp_opts):
            std = STD.get(os.path.splitext(src)[1], "")
            return compile_one(obj, src, ext, cc_args, extra_postargs + ([std] if std else []), pp_opts)

        self.compiler._compile = _compile
        super().build_extensions()


class BuildPyWithPth(build_py):
    """Also install cachewatch.pth (activation by environment variable) and
    the generated option table."""

    def run(self):
        write_flag_table(os.path.join(HERE, "python"))
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
    py_modules=["pytest_cachewatch"],
    cmdclass={"build_py": BuildPyWithPth, "build_ext": BuildExtWithTable},
    entry_points={"console_scripts": ["cachewatch=cachewatch.__main__:main"],
                  "pytest11": ["cachewatch = pytest_cachewatch"]},
)
