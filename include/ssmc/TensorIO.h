//===- TensorIO.h - .npy and .safetensors reading and writing ---*- C++ -*-===//
//
// Readers validate everything a file claims (magic, header, dtype, shape,
// sizes and offsets against the real file size, overlapping tensors) and
// return an error naming the file and the problem; they never trust a size
// they have not checked.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TENSORIO_H
#define SSMC_TENSORIO_H

#include "ssmc/Tensor.h"

#include "llvm/Support/Error.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ssmc {

/// Reads a NumPy .npy file (format 1.0-3.0, little-endian, C order).
llvm::Expected<OwnedTensor> readNpy(llvm::StringRef path);
/// Parses .npy bytes (`what` names the source in errors).
llvm::Expected<OwnedTensor> parseNpy(llvm::StringRef bytes, llvm::StringRef what);
/// Writes `t` (contiguous) as .npy; bf16 has no NumPy dtype and is rejected.
llvm::Error writeNpy(llvm::StringRef path, const Tensor &t);

/// Reads every tensor of a .safetensors file.
llvm::Expected<std::map<std::string, OwnedTensor>>
readSafetensors(llvm::StringRef path);
llvm::Expected<std::map<std::string, OwnedTensor>>
parseSafetensors(llvm::StringRef bytes, llvm::StringRef what);
/// Writes named contiguous tensors as .safetensors.
llvm::Error
writeSafetensors(llvm::StringRef path,
                 const std::vector<std::pair<std::string, Tensor>> &tensors);

/// Reads `spec`: "file.npy", or "file.safetensors:name" (the name may be
/// omitted when the file holds exactly one tensor).
llvm::Expected<OwnedTensor> readTensorSpec(llvm::StringRef spec);

} // namespace ssmc

#endif // SSMC_TENSORIO_H
