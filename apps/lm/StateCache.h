//===- StateCache.h - sequence states on disk -------------------*- C++ -*-===//
//
// Saved decoding states (SequenceState) as files, and a folder of them
// keyed by model and token prefix, so a prompt that shares a prefix with an
// earlier one runs only its new tokens:
//
//   StateCache cache(dir, model.config(), model.identity());
//   auto hit = cache.lookup(prompt, warn);        // longest cached prefix
//   if (hit) model.restoreState(hit->state);
//   model.extend(rest, positions, cache.sink(prompt));  // writes new ones
//
// File format, version 1 (all integers little-endian):
//   8 bytes  "SSMCSTAT"
//   u32      format version
//   u32      header length H
//   H bytes  JSON header: {"model": describe(), "model_key": identity,
//            "position": P, "tokens": [P ids], "tensors": [{"name", "shape"}],
//            "vocab": V, "data_bytes": n, "checksum": FNV-1a 64 of the data}
//   n bytes  the tensors (f32, in header order), then the logits (V f32)
// Files are written to a temporary name in the same folder and renamed, so
// a reader never sees a partial file.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_APPS_LM_STATECACHE_H
#define SSMC_APPS_LM_STATECACHE_H

#include "apps/lm/LanguageModel.h"

#include <functional>
#include <optional>

namespace ssmc::models {

constexpr uint32_t kStateFileVersion = 1;

/// Writes `state` of the sequence whose first state.position tokens are
/// `tokens` (atomically: temporary file, then rename).
llvm::Error writeStateFile(llvm::StringRef path, const ModelConfig &config,
                           llvm::StringRef modelKey,
                           llvm::ArrayRef<int64_t> tokens,
                           const SequenceState &state);

/// Reads a state file and checks it against the model: magic, version,
/// model key and configuration, tensor shapes, data size and checksum.
/// `tokens` (when given) receives the sequence's token ids.
llvm::Expected<SequenceState> readStateFile(llvm::StringRef path,
                                            const ModelConfig &config,
                                            llvm::StringRef modelKey,
                                            std::vector<int64_t> *tokens =
                                                nullptr);

/// A folder of state files of one model, named by a hash of the model key
/// and the token prefix.
class StateCache {
public:
  StateCache(std::string dir, ModelConfig config, std::string modelKey);

  /// The file holding the state after `prefix`.
  std::string pathFor(llvm::ArrayRef<int64_t> prefix) const;

  struct Hit {
    SequenceState state;
    std::string path;
  };
  /// The state of the longest prefix of `tokens` that has a file (its
  /// token ids checked against the file's). A file that fails its checks
  /// is passed to `onBadFile` and skipped.
  std::optional<Hit>
  lookup(llvm::ArrayRef<int64_t> tokens,
         const std::function<void(llvm::Error)> &onBadFile = {}) const;

  /// Writes the state of `tokens`' first state.position tokens (creating
  /// the folder).
  llvm::Error store(llvm::ArrayRef<int64_t> tokens,
                    const SequenceState &state) const;
  /// A Model::StateSink that stores states of the sequence `tokens` (the
  /// whole prompt; each state takes its prefix).
  Model::StateSink sink(std::vector<int64_t> tokens) const;

private:
  std::string dir, modelKey;
  ModelConfig config;
};

} // namespace ssmc::models

#endif // SSMC_APPS_LM_STATECACHE_H
