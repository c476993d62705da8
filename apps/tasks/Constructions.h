//===- Constructions.h - the ssm programs of the theory tasks ---*- C++ -*-===//
//
// Internal to apps/tasks. Each function returns the text of an ssm
// program; the tasks compile it with ssmc::Jit and pass the weights the
// theory prescribes as tensors.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_APPS_TASKS_CONSTRUCTIONS_H
#define SSMC_APPS_TASKS_CONSTRUCTIONS_H

#include "ssmc/Jit.h"
#include "apps/tasks/Tasks.h"

#include <memory>
#include <string>

namespace ssmc::tasks::detail {

/// Linear attention as a keyed store, batched over samples: state
/// S <- exp(g_t) S + k_t v_t^T, read o_t = S^T q_t, plus a residual stream
/// of ones added in the model's element type `elt` (f32 or bf16):
///   @store(q, k [B,1,L,N], v, residual [B,1,L,V], g [B,1,L] f32) -> [B,1,L,V]
std::string keyedStoreProgram(const std::string &elt);

/// The delta-rule store (DeltaNet, scale 1, no normalisation), batched
/// over samples: S <- S + k (beta (v - S^T k))^T, read o = S^T q; a step
/// with k = 0 writes nothing:
///   @delta(q, k [B,T,1,N], v [B,T,1,V], beta [B,T,1]) -> [B,T,1,V]
std::string deltaStoreProgram();

/// Softmax attention (non-causal, scale 1) for the COPY baseline:
///   @attend(q [B,1,Lq,d], k [B,1,Lk,d], v [B,1,Lk,V]) -> [B,1,Lq,V]
std::string attentionProgram();

/// One chain-of-thought step of the keyed store: write (k, v) with log
/// decay g, then read R queries from the updated state:
///   @step(state [1,1,N,V], k [1,1,N], v [1,1,V], g [1,1],
///         qs [1,1,R,N], zk [1,1,R,N], zv [1,1,R,V]) -> (reads [1,1,R,V], state)
std::string cotStepProgram();

/// Decode-step programs of the cost task, static shapes:
///   recurrent: linear_attention_step with state [1,1,N,V]
///   attention: attention_step with a cache [1,1,C,d] (`ring` for a window)
std::string recurrentStepProgram(int64_t N, int64_t V);
std::string attentionStepProgram(int64_t C, int64_t d, int64_t V, bool ring);

/// Compiles `source`; the error names `what`.
llvm::Expected<std::unique_ptr<Jit>> compileModel(const std::string &source,
                                                  const std::string &what,
                                                  const RunOptions &options);

/// A model compiled when first used: a process that computes none of a
/// model's cells (Cells.h) never compiles it.
class LazyModel {
public:
  LazyModel(std::string source, std::string what, const RunOptions &options)
      : source(std::move(source)), what(std::move(what)), options(options) {}
  llvm::Expected<Jit &> get() {
    if (!jit) {
      auto j = compileModel(source, what, options);
      if (!j)
        return j.takeError();
      jit = std::move(*j);
    }
    return *jit;
  }
  /// Runs `entry` of the model, compiling it first if needed.
  llvm::Expected<std::vector<OwnedTensor>> run(llvm::StringRef entry,
                                               llvm::ArrayRef<Tensor> inputs) {
    auto j = get();
    if (!j)
      return j.takeError();
    return j->run(entry, inputs);
  }

private:
  std::string source, what;
  const RunOptions &options;
  std::unique_ptr<Jit> jit;
};

/// Sets every element of `t` (f32 or bf16) to `v`.
void fill(OwnedTensor &t, float v);
/// Element i of an f32 or bf16 tensor.
float at(const OwnedTensor &t, int64_t i);
/// Sets element i of an f32 or bf16 tensor.
void set(OwnedTensor &t, int64_t i, float v);

} // namespace ssmc::tasks::detail

#endif // SSMC_APPS_TASKS_CONSTRUCTIONS_H
