//===- QuantizedModelTest.cpp - models with bf16 and int8 projections -----===//
//
// Tiny random models (the odd sizes of ModelTest) loaded with their
// projections stored as bf16 or int8 (per-row scales), checked two ways:
//
//  - exactly what the format stores: the double reference of
//    test/lib/ModelReference.h run on the checkpoint with every projection
//    (every `*_proj.weight` and the LM head) replaced by its rounded /
//    dequantized values, to f32 accuracy (2e-5 of the largest logit). The
//    prompt (forward, the wide kernel) and each decode step (the narrow
//    kernel) are checked, the latter on both decode kernels: the portable
//    one (256-bit vectors) and, on a host with avx512bf16 / avx512vnni,
//    vdpbf16ps / vpdpbusd, whose activations are rounded to bf16 /
//    quantized to int8 too (then within the f32 bound below);
//  - against the f32 model: the logit error within a bound derived from
//    the precision, and the same most likely token wherever the f32
//    model's top two logits are further apart than twice that bound.
//
//===----------------------------------------------------------------------===//

#include "test/lib/ModelReference.h"
#include "test/lib/ModelTestUtil.h"
#include "apps/lm/LanguageModel.h"
#include "ssmc/TensorIO.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

using namespace ssmc;
using namespace ssmc::models;
using namespace ssmc::test;

namespace {

ModelConfig tinyConfig(Arch arch) {
  switch (arch) {
  case Arch::Mamba1:
    return tinyMamba1();
  case Arch::Mamba2:
    return tinyMamba2(2);
  case Arch::Transformer:
    return tinyTransformer();
  case Arch::GatedDeltaNet:
    // Not instantiated here: reference() has no Gated DeltaNet pass (its
    // double reference is GatedDeltaNetModelTest.cpp's own).
    ADD_FAILURE() << "QuantizedModels has no Gated DeltaNet configuration";
    break;
  }
  return {};
}

std::vector<std::vector<double>> reference(const ModelConfig &c,
                                           const WeightMap &w,
                                           const std::vector<int64_t> &t) {
  switch (c.arch) {
  case Arch::Mamba1:
    return ref::mamba1Logits(w, t);
  case Arch::Mamba2:
    return ref::mamba2Logits(w, t, c.nGroups);
  case Arch::GatedDeltaNet:
    ADD_FAILURE() << "test/lib/ModelReference.h has no Gated DeltaNet "
                     "reference";
    return {};
  case Arch::Transformer:
    break;
  }
  return ref::transformerLogits(w, t, c.attnHeads, c.kvHeads, c.ropeTheta);
}

std::string embeddingName(const WeightMap &w) {
  for (const char *n : {"model.embed_tokens.weight", "backbone.embedding.weight",
                        "backbone.embeddings.weight"})
    if (w.count(n))
      return n;
  return "";
}

/// The checkpoint as the format stores it: every projection (the
/// `*_proj.weight` tensors and the LM head, untied here so that the
/// embedding keeps its f32 rows) rounded to bf16, or quantized to int8
/// per row and dequantized, as f32 values.
WeightMap asStored(const WeightMap &w, WeightPrecision p) {
  WeightMap r = copyOf(w);
  if (!r.count("lm_head.weight")) {
    const OwnedTensor &e = r.at(embeddingName(r));
    OwnedTensor head(DType::F32, e.shape());
    for (int64_t i = 0; i < e.numel(); ++i)
      head.as<float>()[i] = float(e.getAsDouble(i));
    r.emplace("lm_head.weight", std::move(head));
  }
  for (auto &[name, t] : r) {
    if (!llvm::StringRef(name).ends_with("_proj.weight") &&
        name != "lm_head.weight")
      continue;
    int64_t cols = t.shape().back(), rows = t.numel() / cols;
    for (int64_t i = 0; i < rows; ++i) {
      double amax = 0;
      for (int64_t j = 0; j < cols; ++j)
        amax = std::max(amax, std::fabs(t.getAsDouble(i * cols + j)));
      float scale = float(amax) / 127.0f, inv = 127.0f / float(amax);
      for (int64_t j = 0; j < cols; ++j) {
        float v = float(t.getAsDouble(i * cols + j));
        double s = p == WeightPrecision::BF16
                       ? bf16ToFloat(floatToBf16(v))
                       : double(std::round(v * inv)) * scale;
        t.setFromDouble(i * cols + j, s);
      }
    }
  }
  return r;
}

std::unique_ptr<Model> compile(const ModelConfig &c, const WeightMap &w,
                               WeightPrecision p, unsigned vectorBits = 0) {
  JitOptions options;
  options.vectorBits = vectorBits;
  auto m = Model::fromWeights(copyOf(w), options, hintsOf(c), p);
  if (!m) {
    ADD_FAILURE() << llvm::toString(m.takeError());
    return nullptr;
  }
  return std::move(*m);
}

std::vector<int64_t> randomTokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::vector<int64_t> t(n);
  uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    t[i] = int64_t((s >> 33) % uint64_t(vocab));
  }
  return t;
}

/// The relative logit error a precision allows against the f32 model:
/// weights carry a relative error of u (bf16: 2^-9; int8: half a step of
/// max|row| / 127, i.e. 2^-8 of the row's largest weight), compounded
/// through two layers' projections and the head; 16 u covers that for
/// these shapes. vdpbf16ps also rounds the activations (u again).
double f32Bound(WeightPrecision p) {
  return p == WeightPrecision::BF16 ? 16 * 0x1p-9 : 16 * 0x1p-8;
}

class QuantizedModels : public ::testing::TestWithParam<Arch> {};

/// Per architecture, bf16 and int8 projections: the prompt and the decode
/// steps against the double reference on the stored values, and forward
/// against the f32 reference (error bound, top-1 where the f32 margin is
/// clear of the bound).
TEST_P(QuantizedModels, MatchStoredWeightsAndTrackF32) {
  ModelConfig c = tinyConfig(GetParam());
  WeightMap w = randomWeights(c, 11);
  std::vector<int64_t> tokens = randomTokens(16, c.vocab, 3);
  auto wantF32 = reference(c, w, tokens);
  for (WeightPrecision precision :
       {WeightPrecision::BF16, WeightPrecision::Int8}) {
    SCOPED_TRACE(precisionName(precision).str());
    auto want = reference(c, asStored(w, precision), tokens);
    auto model = compile(c, w, precision);
    ASSERT_TRUE(model);
    auto logits = model->forward(tokens);
    ASSERT_TRUE(bool(logits)) << llvm::toString(logits.takeError());
    double stored = 0, vsF32 = 0, stepErr = 0;
    for (size_t l = 0; l < tokens.size(); ++l) {
      const float *got = logits->as<float>() + l * c.vocab;
      stored = std::max(stored, relError(got, want[l]));
      vsF32 = std::max(vsF32, relError(got, wantF32[l]));
    }
    EXPECT_LT(stored, 2e-5) << "forward against the stored weights";
    // The decode kernels with vdpbf16ps / vpdpbusd (where the host has
    // them) also round the activations, to bf16 (2^-9) or int8 (half a
    // step of max |x| / 127), compounded like the weights' rounding.
    double decodeTol = f32Bound(precision);
    auto first = model->prefill({tokens.data(), 5});
    ASSERT_TRUE(bool(first)) << llvm::toString(first.takeError());
    stepErr = relError(first->as<float>(), want[4]);
    for (size_t l = 5; l < tokens.size(); ++l) {
      auto next = model->decode(tokens[l]);
      ASSERT_TRUE(bool(next)) << llvm::toString(next.takeError());
      stepErr = std::max(stepErr, relError(next->as<float>(), want[l]));
    }
    EXPECT_LT(stepErr, decodeTol) << "prefill and decode steps";

    double bound = f32Bound(precision);
    EXPECT_LT(vsF32, bound) << "forward against f32";
    EXPECT_GT(vsF32, 1e-5) << "the weights were not converted";
    int clear = 0;
    for (size_t l = 0; l < tokens.size(); ++l) {
      std::vector<double> sorted = wantF32[l];
      std::sort(sorted.rbegin(), sorted.rend());
      double top = std::max(std::fabs(sorted.front()), std::fabs(sorted.back()));
      if (sorted[0] - sorted[1] <= 2 * bound * top)
        continue;
      ++clear;
      const float *got = logits->as<float>() + l * c.vocab;
      int64_t best = std::max_element(wantF32[l].begin(), wantF32[l].end()) -
                     wantF32[l].begin();
      EXPECT_EQ(std::max_element(got, got + c.vocab) - got, best)
          << "position " << l;
    }
    EXPECT_GE(clear, 4) << "too few positions with a clear top-1 to compare";
    std::printf("%s %s: forward vs stored %.1e, decode vs stored %.1e, "
                "forward vs f32 %.1e (bound %.1e), clear top-1 at %d of %zu\n",
                archName(c.arch).str().c_str(),
                precisionName(precision).str().c_str(), stored, stepErr, vsF32,
                bound, clear, tokens.size());

    if (c.arch == Arch::Mamba1) {
      // The tiny Mamba-1's projections: in_proj 96x24, x_proj 13x48,
      // dt_proj 48x3, out_proj 24x48 per layer, lm_head 37x24 (9336
      // weights, 399 rows); the other 2112 weights stay f32.
      EXPECT_EQ(model->weightBytes(),
                precision == WeightPrecision::BF16 ? 2112 * 4 + 9336 * 2
                                                   : 2112 * 4 + 9336 + 399 * 4);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, QuantizedModels,
                         ::testing::Values(Arch::Mamba1, Arch::Mamba2,
                                           Arch::Transformer),
                         [](const ::testing::TestParamInfo<Arch> &info) {
                           return archName(info.param).str();
                         });

/// A bf16 checkpoint loaded at bf16 keeps its tensors as they are; with
/// 256-bit vectors the decode kernels are the portable ones (activations
/// f32), as exact as forward, at bf16 and int8.
TEST(QuantizedModelsLoad, BF16CheckpointOnThePortableKernels) {
  ModelConfig c = tinyConfig(Arch::Mamba1);
  WeightMap w = randomWeights(c, 13);
  WeightMap bf16;
  for (auto &[n, t] : w) {
    OwnedTensor b(DType::BF16, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i)
      b.setFromDouble(i, t.getAsDouble(i));
    bf16.emplace(n, std::move(b));
  }
  llvm::SmallString<128> path;
  llvm::sys::path::system_temp_directory(true, path);
  llvm::sys::path::append(path, "ssmc-quanttest-" +
                                    std::to_string(::getpid()) +
                                    ".safetensors");
  ASSERT_FALSE(bool(writeWeights(path, bf16)));
  std::vector<int64_t> tokens = randomTokens(9, c.vocab, 5);
  auto want = reference(c, bf16, tokens);
  JitOptions options;
  options.vectorBits = 256;
  auto model = Model::load(path, options, WeightPrecision::BF16);
  llvm::sys::fs::remove(path);
  ASSERT_TRUE(bool(model)) << llvm::toString(model.takeError());
  auto logits = (*model)->forward(tokens);
  ASSERT_TRUE(bool(logits)) << llvm::toString(logits.takeError());
  for (size_t l = 0; l < tokens.size(); ++l)
    EXPECT_LT(relError(logits->as<float>() + l * c.vocab, want[l]), 2e-5)
        << "forward, position " << l;
  auto first = (*model)->prefill({tokens.data(), 3});
  ASSERT_TRUE(bool(first)) << llvm::toString(first.takeError());
  EXPECT_LT(relError(first->as<float>(), want[2]), 2e-5);
  for (size_t l = 3; l < tokens.size(); ++l) {
    auto next = (*model)->decode(tokens[l]);
    ASSERT_TRUE(bool(next)) << llvm::toString(next.takeError());
    EXPECT_LT(relError(next->as<float>(), want[l]), 2e-5)
        << "decode, position " << l;
  }

  auto wantI8 = reference(c, asStored(w, WeightPrecision::Int8), tokens);
  auto i8 = compile(c, w, WeightPrecision::Int8, 256);
  ASSERT_TRUE(i8);
  auto firstI8 = i8->prefill({tokens.data(), 3});
  ASSERT_TRUE(bool(firstI8)) << llvm::toString(firstI8.takeError());
  EXPECT_LT(relError(firstI8->as<float>(), wantI8[2]), 2e-5);
  for (size_t l = 3; l < tokens.size(); ++l) {
    auto next = i8->decode(tokens[l]);
    ASSERT_TRUE(bool(next)) << llvm::toString(next.takeError());
    EXPECT_LT(relError(next->as<float>(), wantI8[l]), 2e-5)
        << "int8 decode, position " << l;
  }
}

} // namespace
