//===- ModelTestUtil.h - what the language-model tests share ----*- C++ -*-===//
//
// The tiny configurations with odd sizes that the model tests load, the
// hints that let the loader read such a configuration back off its
// tensors, a deep copy of a checkpoint, token ids, temporary file names,
// compiling a model (a failure fails the calling test) and the relative
// error of a row of logits against its double-precision reference.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TEST_LIB_MODELTESTUTIL_H
#define SSMC_TEST_LIB_MODELTESTUTIL_H

#include "apps/lm/LanguageModel.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace ssmc::test {

/// Mamba-1 with odd sizes everywhere.
inline models::ModelConfig tinyMamba1() {
  models::ModelConfig c;
  c.vocab = 37;
  c.dModel = 24;
  c.nLayer = 2;
  c.dInner = 48;
  c.dState = 5;
  c.dConv = 4;
  c.dtRank = 3;
  return c;
}

/// Mamba-2 with 4 heads of 12 and `groups` groups of B and C.
inline models::ModelConfig tinyMamba2(int64_t groups = 1) {
  models::ModelConfig c;
  c.arch = models::Arch::Mamba2;
  c.vocab = 41;
  c.dModel = 24;
  c.nLayer = 2;
  c.dInner = 48;
  c.headDim = 12; // 4 heads
  c.dState = 6;
  c.dConv = 4;
  c.nGroups = groups;
  return c;
}

/// A Llama-layout Transformer with grouped-query attention.
inline models::ModelConfig tinyTransformer() {
  models::ModelConfig c;
  c.arch = models::Arch::Transformer;
  c.vocab = 43;
  c.dModel = 32;
  c.nLayer = 2;
  c.attnHeads = 4;
  c.kvHeads = 2; // grouped-query
  c.headDim = 8;
  c.ffnDim = 40;
  c.context = 24;
  c.ropeTheta = 500.0;
  return c;
}

/// The config.json fields of `c` that its tensor shapes do not tell.
inline models::ConfigHints hintsOf(const models::ModelConfig &c) {
  models::ConfigHints h;
  h.normEps = c.normEps;
  switch (c.arch) {
  case models::Arch::Mamba2:
    h.nGroups = c.nGroups;
    break;
  case models::Arch::Transformer:
    h.attnHeads = c.attnHeads;
    h.kvHeads = c.kvHeads;
    h.ropeTheta = c.ropeTheta;
    h.context = c.context;
    break;
  case models::Arch::GatedDeltaNet:
    h.numHeads = c.attnHeads;
    h.allowNegEigval = c.allowNegEigval;
    break;
  case models::Arch::Mamba1:
    break;
  }
  return h;
}

/// A deep copy of `w` (a model takes its weights by value).
inline models::WeightMap copyOf(const models::WeightMap &w) {
  models::WeightMap r;
  for (auto &[name, t] : w) {
    OwnedTensor c(t.dtype(), t.shape());
    std::memcpy(c.data(), t.data(), t.sizeInBytes());
    r.emplace(name, std::move(c));
  }
  return r;
}

/// `n` token ids below `vocab`, spread over it by `seed`.
inline std::vector<int64_t> someTokens(int64_t n, int64_t vocab,
                                       uint64_t seed) {
  std::vector<int64_t> t(n);
  for (int64_t i = 0; i < n; ++i)
    t[i] = (seed * 7919 + i * i * 31 + i * 17) % vocab;
  return t;
}

/// A file `name` in the system's temporary folder, apart for this process.
inline std::string tempPath(llvm::StringRef name) {
  llvm::SmallString<128> dir;
  llvm::sys::path::system_temp_directory(true, dir);
  llvm::sys::path::append(dir, "ssmc-modeltest-" + std::to_string(::getpid()) +
                                   "-" + name.str());
  return std::string(dir);
}

/// The model of `w`, or null after failing the calling test.
inline std::unique_ptr<models::Model>
compileModel(models::WeightMap w, const models::ConfigHints &hints = {}) {
  auto m = models::Model::fromWeights(std::move(w), {}, hints);
  if (!m) {
    ADD_FAILURE() << llvm::toString(m.takeError());
    return nullptr;
  }
  return std::move(*m);
}

/// max |got - want| / max |want| over one row of logits.
inline double relError(const float *got, const std::vector<double> &want) {
  double num = 0, den = 0;
  for (size_t v = 0; v < want.size(); ++v) {
    num = std::max(num, std::fabs(got[v] - want[v]));
    den = std::max(den, std::fabs(want[v]));
  }
  return num / den;
}

/// relError of row `row` of the f32 logits `got`.
inline double relError(const OwnedTensor &got, int64_t row,
                       const std::vector<double> &want) {
  return relError(got.as<float>() + row * int64_t(want.size()), want);
}

/// Prefills the first `prompt` of `tokens` (position() is then `prompt`)
/// and decodes the rest one at a time: each row of logits within 2e-5 of
/// its reference row `want[l]` (relError) and, where `forward` is given, of
/// its row of the forward pass's logits.
inline void
expectPrefillThenDecode(models::Model &model,
                        const std::vector<int64_t> &tokens, int64_t prompt,
                        const std::vector<std::vector<double>> &want,
                        const OwnedTensor *forward = nullptr) {
  auto logits = model.prefill(llvm::ArrayRef(tokens).take_front(prompt));
  ASSERT_TRUE(bool(logits)) << llvm::toString(logits.takeError());
  EXPECT_LT(relError(*logits, 0, want[prompt - 1]), 2e-5)
      << "prefill of " << prompt;
  EXPECT_EQ(model.position(), prompt);
  for (int64_t l = prompt; l < int64_t(tokens.size()); ++l) {
    auto next = model.decode(tokens[l]);
    ASSERT_TRUE(bool(next)) << llvm::toString(next.takeError());
    EXPECT_LT(relError(*next, 0, want[l]), 2e-5)
        << "decode at " << l << " after a prompt of " << prompt;
    if (!forward)
      continue;
    // decode and forward agree with each other as closely as with the
    // reference.
    const int64_t V = int64_t(want[l].size());
    std::vector<double> row(forward->as<float>() + l * V,
                            forward->as<float>() + (l + 1) * V);
    EXPECT_LT(relError(*next, 0, row), 2e-5) << "decode at " << l;
  }
}

/// max |got - want| <= 1e-4 * max(1, max |want|) (DESIGN.md, f32; the
/// compared runs may sum in other orders).
inline void expectClose(const OwnedTensor &got, const OwnedTensor &want,
                        const std::string &what) {
  ASSERT_EQ(got.numel(), want.numel()) << what;
  double num = 0, den = 1;
  for (int64_t i = 0; i < want.numel(); ++i) {
    num = std::max(num, std::fabs(got.getAsDouble(i) - want.getAsDouble(i)));
    den = std::max(den, std::fabs(want.getAsDouble(i)));
  }
  EXPECT_LE(num, 1e-4 * den) << what;
}

} // namespace ssmc::test

#endif // SSMC_TEST_LIB_MODELTESTUTIL_H
