//===- ModelFakeCudaTest.cpp - language models on the CUDA target ---------===//
//
// ssmc::models::Model on the CUDA target over the test-only fake driver
// (test/fakecuda): the weights, decoding states and batch pools are
// uploaded once and stay device-resident, so a decode step copies none of
// them (the fake counts the bytes every copy moves), and the tiny models
// give the CPU target's logits and greedy tokens through prefill, decode,
// forward, saved and restored states, and batches. ctest's
// `fakecuda.models` runs these cases with LD_LIBRARY_PATH pointing at the
// fake; elsewhere they skip. Loading a model (compiling it for both
// targets) is most of their cost, so they cover the variants whose device
// handling differs: Mamba-1 f32 (prefill, decode, extend, saved and
// restored states, batches), int8 (the row scales) and the Transformer (the
// KV cache); Mamba-2, Gated DeltaNet and bf16 add no residency case of their
// own, and their kernels are checked against references by
// `fakecuda.kernels_vs_reference`.
//
//===----------------------------------------------------------------------===//

#include "apps/lm/LanguageModel.h"
#include "test/lib/FakeCudaTest.h"
#include "test/lib/ModelTestUtil.h"
#include "ssmc/Cuda.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

using namespace ssmc;
using namespace ssmc::models;
using namespace ssmc::test;

namespace {

/// Bytes the fake driver has copied from host to device memory
/// (`toDevice`) or back, by every copy since the process began.
int64_t copiedBytes(bool toDevice) {
  auto *f = fakeCudaFunction<int64_t(int)>("CopiedBytes");
  return f ? f(toDevice ? 1 : 0) : -1;
}

/// The bytes a call copies each way.
struct Copied {
  int64_t toDevice = 0, toHost = 0;
};
/// Runs `call`, counting in `c` the bytes it copies; returns its result.
template <typename F> auto counting(Copied &c, F &&call) -> decltype(call()) {
  int64_t in = copiedBytes(true), out = copiedBytes(false);
  auto result = call();
  c = {copiedBytes(true) - in, copiedBytes(false) - out};
  return result;
}

/// The fake driver's live device, managed and pinned allocations.
int64_t liveAllocations() {
  auto *f = fakeCudaFunction<int64_t()>("LiveAllocations");
  return f ? f() : -1;
}

int64_t argmax(const OwnedTensor &logits, int64_t row, int64_t vocab) {
  const float *p = logits.as<float>() + row * vocab;
  return std::max_element(p, p + vocab) - p;
}

/// A CPU model and a CUDA model of the same weights.
struct Pair {
  std::unique_ptr<Model> cpu, gpu;
};

class ModelsOverFakeCuda : public FakeCudaTest {
protected:
  static constexpr unsigned kOptLevel = 0;

  Pair load(const char *name, WeightPrecision precision) {
    std::optional<ModelConfig> c = configByName(name);
    EXPECT_TRUE(c.has_value()) << name;
    WeightMap w = randomWeights(*c, 5);
    JitOptions cudaTarget, cpuTarget;
    cudaTarget.target = Target::CUDA;
    // What these cases check (residency, copied bytes, the CPU's logits)
    // does not depend on LLVM's optimisation, a large part of what loading
    // a model costs: -O0 keeps `fakecuda.models` short.
    cudaTarget.optLevel = cpuTarget.optLevel = kOptLevel;
    // The portable CPU kernels keep a bf16 or int8 model's activations f32,
    // as the GPU kernels do (AVX-512's vdpbf16ps / vpdpbusd round them).
    if (precision != WeightPrecision::F32)
      cpuTarget.vectorBits = 256;
    Pair p;
    auto cpu = Model::fromWeights(copyOf(w), cpuTarget, hintsOf(*c), precision);
    EXPECT_TRUE(!!cpu) << llvm::toString(cpu.takeError());
    auto gpu = Model::fromWeights(std::move(w), cudaTarget, hintsOf(*c),
                                  precision);
    EXPECT_TRUE(!!gpu) << llvm::toString(gpu.takeError());
    if (cpu && gpu) {
      p.cpu = std::move(*cpu);
      p.gpu = std::move(*gpu);
    }
    return p;
  }

  /// Prefill and `steps` greedy decode steps on both models: equal logits
  /// and tokens, and every decode step of the CUDA model finds resident
  /// buffers and copies to the device fewer bytes than one layer's weights.
  /// The LM head is a whole program argument and the layers' weights and
  /// states slices of the stacked arguments at the layer loop's index,
  /// which the kernels read in place (strided views, docs/gpu.md
  /// "Language models on the CUDA target"): a step copies its activations
  /// only. A step that copied the projections of every layer (strided
  /// views staged through host copies, as before; checked by making
  /// ssm-gpu-stage-buffers do so) copies more than the bound, and so does
  /// one with host weights (checked by making the weights non-resident:
  /// every step fails both checks).
  void decodeLikeTheCPU(Pair &p, int64_t steps) {
    const int64_t V = p.gpu->config().vocab;
    std::vector<int64_t> prompt = {3, 1, 4, 1, 5, 9, 2};
    auto want = p.cpu->prefill(prompt);
    ASSERT_TRUE(!!want) << llvm::toString(want.takeError());
    auto got = p.gpu->prefill(prompt);
    ASSERT_TRUE(!!got) << llvm::toString(got.takeError());
    expectClose(*got, *want, "prefill logits");
    int64_t token = argmax(*want, 0, V);
    ASSERT_EQ(argmax(*got, 0, V), token);
    const int64_t budget = layerWeightBytes(p.gpu->config());
    for (int64_t s = 0; s < steps; ++s) {
      auto w = p.cpu->decode(token);
      ASSERT_TRUE(!!w) << llvm::toString(w.takeError());
      int64_t hits = cuda::residentHits();
      Copied c;
      auto g = counting(c, [&] { return p.gpu->decode(token); });
      ASSERT_TRUE(!!g) << llvm::toString(g.takeError());
      EXPECT_GT(cuda::residentHits(), hits) << "step " << s;
      EXPECT_LT(c.toDevice, budget)
          << "step " << s << ": layer weights copied to the device";
      expectClose(*g, *w, "decode step " + std::to_string(s));
      token = argmax(*w, 0, V);
      ASSERT_EQ(argmax(*g, 0, V), token) << "step " << s;
    }
  }

  /// Both models' saved states, the CUDA model's read off the device, in
  /// `gpu` and `cpu`: as many tensors, each within expectClose's bound.
  void saveLikeTheCPU(Pair &p, const std::string &what, SequenceState &gpu,
                      SequenceState &cpu) {
    auto g = p.gpu->saveState();
    ASSERT_TRUE(!!g) << llvm::toString(g.takeError());
    auto c = p.cpu->saveState();
    ASSERT_TRUE(!!c) << llvm::toString(c.takeError());
    ASSERT_EQ(g->tensors.size(), c->tensors.size()) << what;
    for (size_t i = 0; i < g->tensors.size(); ++i)
      expectClose(g->tensors[i], c->tensors[i], what);
    gpu = std::move(*g);
    cpu = std::move(*c);
  }

  /// Bytes of one layer's program weights at the model's precision: the
  /// stacked weights' (leading dimension the layer count) share per layer.
  static int64_t layerWeightBytes(const ModelConfig &c) {
    int64_t bytes = 0;
    for (auto &[name, shape] : programWeights(c))
      if (name != "embedding" && name != "lm_head" && !shape.empty() &&
          shape[0] == c.nLayer)
        bytes += numElements(shape) *
                 int64_t(dtypeSize(programWeightType(c, name)));
    EXPECT_GT(bytes, 0) << "no stacked layer weights";
    return bytes / c.nLayer;
  }
};

// Device memory that cannot be had fails the load with the driver's
// message, before anything compiles; nothing is left allocated.
TEST_F(ModelsOverFakeCuda, AFailedUploadFailsTheLoad) {
  std::optional<ModelConfig> c = configByName("tiny");
  ASSERT_TRUE(c.has_value());
  JitOptions cudaTarget;
  cudaTarget.target = Target::CUDA;
  for (const char *spec : {"cuMemAllocManaged:3", "cuMemcpyAsync:5"}) {
    SCOPED_TRACE(spec);
    int64_t live = liveAllocations();
    setFailures(spec);
    auto m = Model::fromWeights(randomWeights(*c, 5), cudaTarget);
    ASSERT_FALSE(m);
    std::string why = llvm::toString(m.takeError());
    EXPECT_NE(why.find("uploading the weights to the device: "),
              std::string::npos)
        << why;
    (void)cuda::takeError();
    EXPECT_EQ(liveAllocations(), live);
  }
}

TEST_F(ModelsOverFakeCuda, Mamba1OnResidentWeightsAndStates) {
  Pair p = load("tiny", WeightPrecision::F32);
  ASSERT_TRUE(p.gpu);
  decodeLikeTheCPU(p, 2);

  // A saved state is read off the device, and restoring it (host writes
  // into the resident states) continues as the CPU model does.
  SequenceState saved, cpuSaved;
  ASSERT_NO_FATAL_FAILURE(saveLikeTheCPU(p, "saved state", saved, cpuSaved));
  std::vector<int64_t> more = {7, 8};
  auto first = p.gpu->extend(more);
  ASSERT_TRUE(!!first) << llvm::toString(first.takeError());
  ASSERT_FALSE(p.gpu->restoreState(saved));
  auto again = p.gpu->extend(more);
  ASSERT_TRUE(!!again) << llvm::toString(again.takeError());
  expectClose(*again, *first, "extend after restoreState");
  auto cpuMore = p.cpu->extend(more);
  ASSERT_TRUE(!!cpuMore);
  expectClose(*again, *cpuMore, "extend against the CPU");

  // forward reads the resident weights too.
  auto f = p.gpu->forward({2, 7, 1, 8});
  ASSERT_TRUE(!!f) << llvm::toString(f.takeError());
  auto cf = p.cpu->forward({2, 7, 1, 8});
  ASSERT_TRUE(!!cf);
  expectClose(*f, *cf, "forward");

  // A batch: its pools are resident too; a sequence starts from the saved
  // state (restored into its pool row on the host).
  const int64_t V = p.gpu->config().vocab;
  auto batch = [&](const SequenceState &start) {
    std::vector<Model::BatchSequence> seqs(2);
    seqs[0].tokens = {3, 1, 4};
    seqs[1].tokens.assign(start.position, 0); // run from the state on
    seqs[1].tokens.push_back(6);
    seqs[1].tokens.push_back(2);
    seqs[1].start = &start;
    return seqs;
  };
  auto want = p.cpu->prefillSequences(batch(cpuSaved));
  ASSERT_TRUE(!!want) << llvm::toString(want.takeError());
  auto got = p.gpu->prefillSequences(batch(saved));
  ASSERT_TRUE(!!got) << llvm::toString(got.takeError());
  expectClose(*got, *want, "batched prefill");
  std::vector<int64_t> next = {argmax(*want, 0, V), argmax(*want, 1, V)};
  auto w = p.cpu->decodeBatch(next);
  ASSERT_TRUE(!!w) << llvm::toString(w.takeError());
  int64_t hits = cuda::residentHits();
  auto g = p.gpu->decodeBatch(next);
  ASSERT_TRUE(!!g) << llvm::toString(g.takeError());
  EXPECT_GT(cuda::residentHits(), hits);
  expectClose(*g, *w, "batched decode");
  EXPECT_EQ(argmax(*g, 0, V), argmax(*w, 0, V));
  EXPECT_EQ(argmax(*g, 1, V), argmax(*w, 1, V));
}

// Int8 weights: the per-row scales are resident and read in place too.
TEST_F(ModelsOverFakeCuda, Mamba1Int8Weights) {
  Pair p = load("tiny", WeightPrecision::Int8);
  ASSERT_TRUE(p.gpu);
  decodeLikeTheCPU(p, 1);
}

TEST_F(ModelsOverFakeCuda, TransformerDecodesOnAResidentKVCache) {
  Pair p = load("tiny-transformer", WeightPrecision::F32);
  ASSERT_TRUE(p.gpu);
  decodeLikeTheCPU(p, 2);
  // The saved state is the cache's filled slots, read off the device.
  SequenceState saved, cpuSaved;
  saveLikeTheCPU(p, "saved KV cache", saved, cpuSaved);
}

} // namespace
