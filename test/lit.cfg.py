# -*- Python -*-
# lit configuration of the ssmc regression suite.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "SSMC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "lit.site.cfg.py", "unit", "tools", "gpu", "fakecuda", "Inputs"]

config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.ssmc_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%ssmc_src_root", config.ssmc_src_root))
# MLIR's .td files (mlir-tblgen -I), next to the LLVM tools' bin/.
config.substitutions.append(
    ("%mlir_include_dir", os.path.join(os.path.dirname(config.llvm_tools_dir), "include")))

llvm_config.with_system_environment(
    ["HOME", "INCLUDE", "LIB", "TMP", "TEMP", "ASAN_OPTIONS", "LSAN_OPTIONS"])
llvm_config.use_default_substitutions()
# `not` and `count` at the start of a RUN line are found through PATH.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.ssmc_tools_dir, append_path=True)

# The tools keep compiled programs on disk (Jit::defaultCacheDir): here in
# one folder of this build that the tests share (an entry's key names the
# tool binary, so a rebuilt tool never loads an old entry), never in the
# user's ~/.cache. Tests of the cache itself set their own folder.
config.environment["SSMC_CACHE_DIR"] = os.path.join(config.test_exec_root,
                                                     "program-cache")

tool_dirs = [config.ssmc_tools_dir, config.llvm_tools_dir]
tools = ["ssmc-opt", "ssmc-run", "ssmc-testdata", "ssmc-tasks", "ssmc-generate"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# `sanitizers` in the ASan/UBSan build (SSMC_ENABLE_SANITIZERS): the long
# ptxas sweeps check generated PTX, not the compiler's memory safety, and
# run in the plain build only.
if config.ssmc_sanitizers.upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("sanitizers")

# GPU features: `cuda-driver` when a driver library is loadable (tests that
# execute on a GPU say REQUIRES: cuda-driver), `ptxas` when the CUDA toolkit
# can validate generated PTX. The test-only fake driver (test/fakecuda,
# exporting ssmcFakeCudaRegisterKernel) is no real driver, even when it is
# what libcuda.so.1 resolves to.
import ctypes
try:
    if not hasattr(ctypes.CDLL("libcuda.so.1"), "ssmcFakeCudaRegisterKernel"):
        config.available_features.add("cuda-driver")
except OSError:
    pass
# `fake-cuda` when the fake driver is built: `%fake_cuda_env CMD` runs CMD
# with it as libcuda.so.1 (SSMC_FAKE_CUDA_FAIL=name[:N] injects failures).
if os.path.exists(os.path.join(config.fake_cuda_dir, "libcuda.so.1")):
    config.available_features.add("fake-cuda")
config.substitutions.append(
    ("%fake_cuda_env", "env LD_LIBRARY_PATH=" + config.fake_cuda_dir))
config.substitutions.append(("%cuda_root", config.cuda_root))
# `gpu-twin-bench` when ssmc-gpu-twin-bench is built (bench/, which a
# sanitizer build leaves out); %ssmc_bin_dir is where the tools are.
if os.path.exists(os.path.join(config.ssmc_tools_dir, "ssmc-gpu-twin-bench")):
    config.available_features.add("gpu-twin-bench")
config.substitutions.append(("%ssmc_bin_dir", config.ssmc_tools_dir))
if os.path.exists(os.path.join(config.cuda_root, "bin", "ptxas")):
    config.available_features.add("ptxas")

# `mpi` when ssmc was built with MPI and mpirun is on PATH: `%mpirun N CMD`
# starts N ranks of CMD (oversubscribed: the test machines have fewer cores
# than ranks; as root, as CI runs). Tests of sequence parallelism say
# REQUIRES: mpi and are UNSUPPORTED without it.
import shutil
mpirun = shutil.which("mpirun")
if mpirun and config.ssmc_have_mpi.upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("mpi")
    flags = "--oversubscribe --bind-to none"
    if os.geteuid() == 0:
        flags += " --allow-run-as-root"
    config.substitutions.append(("%mpirun", mpirun + " " + flags + " -np"))
