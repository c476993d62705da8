"""The package as users get it: `cmake --install` into a prefix, and the
NumPy example."""

import os
import shutil
import subprocess
import sys

import pytest

import ssmc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# ctest sets SSMC_BUILD_DIR; else the build directory the package came from.
BUILD = os.environ.get("SSMC_BUILD_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(ssmc.__file__))))


def install_dir():
    """SSMC_PYTHON_INSTALL_DIR of the build (relative to the prefix)."""
    with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith("SSMC_PYTHON_INSTALL_DIR:"):
                return line.split("=", 1)[1].strip()
    raise AssertionError("SSMC_PYTHON_INSTALL_DIR not in CMakeCache.txt")


def run_python(code_or_path, pythonpath, *args, cwd=None):
    env = dict(os.environ, PYTHONPATH=pythonpath, SSMC_NO_DISK_CACHE="1")
    cmd = [sys.executable]
    cmd += [code_or_path] if code_or_path.endswith(".py") else ["-c", code_or_path]
    return subprocess.run(cmd + list(args), env=env, capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.mark.skipif(shutil.which("cmake") is None or
                    not os.path.exists(os.path.join(BUILD, "CMakeCache.txt")),
                    reason="needs cmake and the build directory")
def test_cmake_install_into_a_prefix(tmp_path):
    prefix = tmp_path / "prefix"
    out = subprocess.run(["cmake", "--install", BUILD, "--prefix", str(prefix),
                          "--component", "python"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    pkg = prefix / install_dir()
    files = sorted(os.listdir(pkg / "ssmc"))
    assert "__init__.py" in files and any(f.startswith("_ssmc.") for f in files)
    # Only the installed copy on the path, run from elsewhere.
    r = run_python(
        "import numpy as np, ssmc, sys\n"
        "assert ssmc.__file__.startswith(sys.argv[1]), ssmc.__file__\n"
        "p = ssmc.compile(open(sys.argv[2]).read().split('AXPY = \"\"\"')[1].split('\"\"\"')[0])\n"
        "print(p.axpy(np.arange(4, dtype=np.float32), 2.0, np.ones(4, np.float32)).tolist())\n",
        str(pkg), str(pkg), os.path.join(HERE, "conftest.py"), cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[1.0, 3.0, 5.0, 7.0]"


def test_numpy_example_runs():
    r = run_python(os.path.join(ROOT, "examples", "python", "numpy_example.py"),
                   os.path.dirname(os.path.dirname(os.path.abspath(ssmc.__file__))))
    assert r.returncode == 0, r.stderr
    assert "max error vs float64" in r.stdout and r.stdout.strip().endswith("OK")
