//===- CUDAToolkit.cpp - GPU architectures and the CUDA toolkit -----------===//
//
// The CUDA target's two choices made outside the IR: which architecture the
// kernels are compiled for (with the PTX ISA version that goes with it), and
// where the toolkit whose ptxas and fatbinary turn PTX into a fatbin lives.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Pipelines.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include <cstdlib>

namespace ssmc {

llvm::ArrayRef<GPUArch> supportedGPUArchs() {
  // The oldest PTX ISA with each architecture, except sm_90: PTX 8.0 (CUDA
  // 12.0) is what its kernels were validated with on the card.
  static const GPUArch archs[] = {
      {"sm_80", "+ptx70"},
      {"sm_89", "+ptx78"},
      {"sm_90", "+ptx80"},
      {"sm_100", "+ptx86"},
  };
  return archs;
}

std::string supportedGPUArchList() {
  std::string list;
  for (const GPUArch &a : supportedGPUArchs())
    list += (list.empty() ? "" : ", ") + a.name.str();
  return list;
}

llvm::Expected<GPUArch> lookupGPUArch(llvm::StringRef name) {
  for (const GPUArch &a : supportedGPUArchs())
    if (a.name == name)
      return a;
  return llvm::createStringError("unknown GPU architecture '" + name.str() +
                                 "'; the CUDA target compiles for " +
                                 supportedGPUArchList());
}

namespace {

/// `dir` when its bin/ holds both tools gpu-module-to-binary runs.
std::optional<std::string> toolkitAt(llvm::StringRef dir) {
  if (dir.empty())
    return std::nullopt;
  for (llvm::StringRef tool : {"ptxas", "fatbinary"}) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, "bin", tool);
    if (!llvm::sys::fs::can_execute(path))
      return std::nullopt;
  }
  return dir.str();
}

} // namespace

std::optional<std::string> findCUDAToolkit(llvm::StringRef explicitPath) {
  // An explicit directory is the only one tried: a build that names its
  // toolkit must not silently pick up another.
  if (!explicitPath.empty())
    return toolkitAt(explicitPath);
  for (const char *var : {"CUDA_ROOT", "CUDA_PATH"})
    if (const char *value = std::getenv(var))
      if (std::optional<std::string> dir = toolkitAt(value))
        return dir;
  if (std::optional<std::string> dir = toolkitAt("/usr/local/cuda"))
    return dir;
  if (llvm::ErrorOr<std::string> ptxas = llvm::sys::findProgramByName("ptxas"))
    return toolkitAt(
        llvm::sys::path::parent_path(llvm::sys::path::parent_path(*ptxas)));
  return std::nullopt;
}

} // namespace ssmc
