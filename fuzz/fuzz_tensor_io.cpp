//===- fuzz_tensor_io.cpp - libFuzzer target for .npy/.safetensors --------===//
//
// Feeds arbitrary bytes to both tensor-file parsers. They must return a
// tensor or an error for every input: no crash, no read past the buffer, no
// huge allocation from a lying header (AddressSanitizer checks the rest).
//
//   build-fuzz/bin/ssmc-fuzz-tensor-io -max_total_time=600 fuzz/corpus/tensor_io
//
//===----------------------------------------------------------------------===//

#include "ssmc/TensorIO.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  if (auto t = ssmc::parseNpy(bytes, "fuzz.npy"))
    (void)t->numel();
  else
    llvm::consumeError(t.takeError());
  if (auto m = ssmc::parseSafetensors(bytes, "fuzz.safetensors"))
    (void)m->size();
  else
    llvm::consumeError(m.takeError());
  return 0;
}
