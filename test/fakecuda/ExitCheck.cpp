//===- ExitCheck.cpp - the mgpu error state is safe at exit ---------------===//
//
// Generated code unloads its GPU modules from global destructors, which run
// after the main thread's thread-local objects are destroyed. This program
// (built with AddressSanitizer, run over the fake driver) takes a run error
// during main, then unloads a module from a global destructor with the
// driver's cuModuleUnload failing, and prints the error that unload left:
// "exit: cuModuleUnload failed ..." and exit status 0 when the error state
// survives exit, an AddressSanitizer report when it does not.
//
//===----------------------------------------------------------------------===//

#include "MgpuRuntime.h"

#include <dlfcn.h>

#include <cstdio>

namespace {

const char *kPtx = R"(
.version 8.0
.target sm_90
.address_size 64
.visible .entry k(.param .u64 k_param_0)
{
	ret;
}
)";

void *module = nullptr;

struct UnloadAtExit {
  ~UnloadAtExit() {
    mgpuModuleUnload(module);
    char text[1024];
    if (ssmcCudaTakeError(text, sizeof text))
      std::printf("exit: %s\n", text);
    else
      std::printf("exit: no error\n");
    std::fflush(stdout);
  }
} unloadAtExit;

} // namespace

int main() {
  if (const char *why = ssmcCudaLoadError(); *why) {
    std::fprintf(stderr, "no driver: %s\n", why);
    return 1;
  }
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  auto setFailures = reinterpret_cast<void (*)(const char *)>(
      lib ? dlsym(lib, "ssmcFakeCudaSetFailures") : nullptr);
  if (!setFailures) {
    std::fprintf(stderr, "libcuda.so.1 is not the fake driver\n");
    return 1;
  }
  module = mgpuModuleLoadJIT(const_cast<char *>(kPtx), 2);
  // A run that fails, its error taken (a long message: heap storage in a
  // std::string), as every caller does.
  setFailures("cuStreamSynchronize:1,cuModuleUnload:1");
  mgpuStreamSynchronize(nullptr);
  char text[1024];
  if (!ssmcCudaTakeError(text, sizeof text)) {
    std::fprintf(stderr, "the injected failure was not reported\n");
    return 1;
  }
  std::printf("run: %s\n", text);
  return 0;
}
