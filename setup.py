"""Build cachewatch: the C extension cachewatch._cachewatch and the Python
layer under python/cachewatch. The extension is required: a build without a
C compiler fails loudly, and so does one without RE2 (Debian's libre2-dev),
which matches the `redact` option in linear time. libunwind is optional:
without it native stacks are unavailable and the checker says so when asked
for them."""
import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINE_DIR = os.path.join("ext", "engine")
BINDING_DIR = os.path.join("ext", "cpython")
WERROR = bool(os.environ.get("CACHEWATCH_WERROR"))


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

extra = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra"] + (["-Werror"] if WERROR else [])


def sources(folder, suffixes):
    return sorted(os.path.join(folder, f) for f in os.listdir(os.path.join(HERE, folder))
                  if f.endswith(suffixes))


ext = Extension(
    "cachewatch._cachewatch",
    sources=sources(BINDING_DIR, (".c",)),
    include_dirs=[ENGINE_DIR, BINDING_DIR],
    define_macros=[("CW_HAVE_LIBUNWIND", "1" if UNWIND else "0")],
    # The engine's static library (built by CMake in build_ext) goes in
    # first; what it needs of RE2 and the C++ runtime after it.
    libraries=["re2", "stdc++", "dl"],
    # libgcc_s needed (and searched) before libunwind: libunwind also exports
    # the _Unwind_* ABI, and the C++ runtime loaded with us must bind to
    # libgcc_s's, or an exception thrown by any later C++ extension (greenlet)
    # aborts the process. --no-as-needed keeps libgcc_s, which no object of
    # ours calls, in the list.
    extra_link_args=["-Wl,--no-as-needed", "-lgcc_s", "-lunwind"] if UNWIND else [],
    extra_compile_args=extra,
    depends=sources(ENGINE_DIR, (".h", ".inc", ".c", ".cc")) + sources(BINDING_DIR, (".h",)),
)


def flag_table_source():
    """ext/engine/flags.inc as Python data, for code that must not load the C core
    (the pytest plugin). Generated at build time: flags.inc stays the one
    source."""
    with open(os.path.join(HERE, ENGINE_DIR, "flags.inc")) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    rows = []
    for m in re.finditer(r"CW_FLAG\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\"(?:[^\"\\\\]|\\\\.)*\"|[-\w]+)\s*,"
                         r"((?:\s*\"(?:[^\"\\\\]|\\\\.)*\")+)\s*\)", text):
        type_, name, default, help_ = m.groups()
        helps = "".join(ast.literal_eval(h) for h in re.findall(r'"(?:[^"\\\\]|\\\\.)*"', help_))
        rows.append((name, type_, default, helps))
    return ('"""Generated from ext/engine/flags.inc by setup.py: do not edit."""\n'
            f"FLAGS = {rows!r}\n")


def write_flag_table(package_dir):
    path = os.path.join(package_dir, "cachewatch", "_flag_table.py")
    source = flag_table_source()
    if not os.path.exists(path) or open(path).read() != source:
        with open(path, "w") as f:
            f.write(source)


class BuildExtWithTable(build_ext):
    """Writes the option table, builds the engine's static library with CMake
    (the one the C unit tests link), then the binding linked against it."""

    def run(self):
        write_flag_table(os.path.join(HERE, "python"))
        super().run()

    def build_extensions(self):
        library = build_engine(os.path.join(os.path.abspath(self.build_temp), "engine"))
        for extension in self.extensions:
            extension.extra_objects = [library] + list(extension.extra_objects or [])
        super().build_extensions()


def build_engine(build_dir):
    """ext/engine/ as CMake builds it for the tests, optimised as the
    interpreter's own extensions are; returns the library's path."""
    cmake = shutil.which("cmake")
    if cmake is None:
        sys.exit("cachewatch: building needs CMake (apt-get install cmake)")
    flags = " ".join(f for f in (sysconfig.get_config_var("CFLAGS") or "").split()
                     if f in ("-g", "-fwrapv") or f.startswith("-O"))
    subprocess.run([cmake, "-S", HERE, "-B", build_dir, "-DCMAKE_BUILD_TYPE=None",
                    "-DCW_TESTS=OFF", f"-DCW_WERROR={'ON' if WERROR else 'OFF'}",
                    f"-DCMAKE_C_FLAGS={flags}", f"-DCMAKE_CXX_FLAGS={flags}"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cmake, "--build", build_dir, "--target", "cw_core", "-j2"], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(build_dir, "libcw_core.a")


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
    python_requires=">=3.9,<3.15",  # what the version guards were written for
    install_requires=["bytecode>=0.15"],
    py_modules=["pytest_cachewatch"],
    cmdclass={"build_py": BuildPyWithPth, "build_ext": BuildExtWithTable},
    entry_points={"console_scripts": ["cachewatch=cachewatch.__main__:main"],
                  "pytest11": ["cachewatch = pytest_cachewatch"]},
)
