//===- GatedDeltaNetModelTest.cpp - Gated DeltaNet models vs a double pass ===//
//
// Tiny Gated DeltaNet models (fla's GatedDeltaNetForCausalLM layout) with
// random weights: forward logits against a double-precision forward pass
// written here as plain loops over the checkpoint tensors (its own short
// convolutions, l2 norm, gated delta rule stepped token by token, gated
// head norm and SwiGLU), prefill + decode against it, a bf16 checkpoint
// with its config.json, and the loader's errors.
//
//===----------------------------------------------------------------------===//

#include "apps/lm/LanguageModel.h"
#include "test/lib/ModelTestUtil.h"
#include "ssmc/TensorIO.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace ssmc;
using namespace ssmc::models;
using namespace ssmc::test;

namespace {

/// Grouped value heads (2 query/key heads of K = 6, 4 value heads of
/// Vd = 5), odd sizes everywhere.
ModelConfig tinyGdn() {
  ModelConfig c;
  c.arch = Arch::GatedDeltaNet;
  c.vocab = 37;
  c.dModel = 24;
  c.nLayer = 2;
  c.attnHeads = 2;
  c.headDim = 6;
  c.vHeads = 4;
  c.headVDim = 5;
  c.dConv = 4;
  c.ffnDim = 40;
  c.normEps = 1e-6;
  return c;
}

/// randomWeights with every norm weight moved off 1, so that a norm
/// applied with the wrong weight (or not at all) shows.
WeightMap weightsOf(const ModelConfig &c, uint64_t seed) {
  WeightMap w = randomWeights(c, seed);
  for (auto &[name, t] : w)
    if (llvm::StringRef(name).ends_with("norm.weight"))
      for (int64_t i = 0; i < t.numel(); ++i)
        t.as<float>()[i] = float(1.0 + 0.5 * std::sin(double(seed + 3 * i)));
  return w;
}

//===----------------------------------------------------------------------===//
// The double-precision forward pass
//===----------------------------------------------------------------------===//

struct ReferenceGdn {
  const WeightMap &w;
  const ModelConfig &c;

  double at(const std::string &name, int64_t i) const {
    return w.at(name).getAsDouble(i);
  }
  bool has(const std::string &name) const { return w.count(name) > 0; }
  /// y = W x for W [rows, cols] named `name`.
  std::vector<double> linear(const std::string &name,
                             const std::vector<double> &x) const {
    const OwnedTensor &t = w.at(name);
    int64_t rows = t.shape()[0], cols = t.shape()[1];
    std::vector<double> y(rows, 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols; ++k)
        y[r] += t.getAsDouble(r * cols + k) * x[k];
    return y;
  }
  std::vector<double> rmsnorm(const std::string &name,
                              const std::vector<double> &x) const {
    double ss = 0;
    for (double v : x)
      ss += v * v;
    double inv = 1.0 / std::sqrt(ss / double(x.size()) + c.normEps);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      y[i] = x[i] * inv * at(name, i);
    return y;
  }
  static double silu(double v) { return v / (1.0 + std::exp(-v)); }
  static double softplus(double v) {
    return v > 20 ? v : std::log1p(std::exp(v));
  }

  /// Logits [L][vocab] of `tokens`.
  std::vector<std::vector<double>>
  logits(const std::vector<int64_t> &tokens) const {
    const int64_t L = tokens.size(), D = c.dModel, Hk = c.attnHeads,
                  K = c.headDim, Hv = c.vHeads, Vd = c.headVDim,
                  KD = Hk * K, VD = Hv * Vd, W = c.dConv;
    std::vector<std::vector<double>> x(L, std::vector<double>(D));
    for (int64_t t = 0; t < L; ++t)
      for (int64_t d = 0; d < D; ++d)
        x[t][d] = at("model.embeddings.weight", tokens[t] * D + d);
    for (int64_t layer = 0; layer < c.nLayer; ++layer) {
      std::string p = "model.layers." + std::to_string(layer) + ".";
      std::string a = p + "attn.";
      // Projections of the normed input, per token.
      std::vector<std::vector<double>> qp(L), kp(L), vp(L), gp(L), ap(L),
          bp(L);
      for (int64_t t = 0; t < L; ++t) {
        std::vector<double> xn = rmsnorm(p + "attn_norm.weight", x[t]);
        qp[t] = linear(a + "q_proj.weight", xn);
        kp[t] = linear(a + "k_proj.weight", xn);
        vp[t] = linear(a + "v_proj.weight", xn);
        gp[t] = linear(a + "g_proj.weight", xn);
        ap[t] = linear(a + "a_proj.weight", xn);
        bp[t] = linear(a + "b_proj.weight", xn);
      }
      // Causal depthwise convolutions of width W, then SiLU.
      auto conv = [&](const std::vector<std::vector<double>> &in,
                      const std::string &name, int64_t channels) {
        std::vector<std::vector<double>> out(L,
                                             std::vector<double>(channels));
        for (int64_t t = 0; t < L; ++t)
          for (int64_t ch = 0; ch < channels; ++ch) {
            double s = has(name + ".bias") ? at(name + ".bias", ch) : 0.0;
            for (int64_t j = 0; j < W; ++j) {
              int64_t src = t - (W - 1) + j;
              if (src >= 0)
                s += at(name + ".weight", ch * W + j) * in[src][ch];
            }
            out[t][ch] = silu(s);
          }
        return out;
      };
      auto q = conv(qp, a + "q_conv1d", KD), k = conv(kp, a + "k_conv1d", KD),
           v = conv(vp, a + "v_conv1d", VD);
      // The gated delta rule, one head and one token at a time.
      std::vector<std::vector<double>> o(L, std::vector<double>(VD, 0.0));
      for (int64_t h = 0; h < Hv; ++h) {
        int64_t hk = h / (Hv / Hk);
        std::vector<double> S(K * Vd, 0.0); // [K][Vd]
        for (int64_t t = 0; t < L; ++t) {
          std::vector<double> qt(K), kt(K);
          double qs = 0, ks = 0;
          for (int64_t i = 0; i < K; ++i) {
            qt[i] = q[t][hk * K + i];
            kt[i] = k[t][hk * K + i];
            qs += qt[i] * qt[i];
            ks += kt[i] * kt[i];
          }
          for (int64_t i = 0; i < K; ++i) {
            qt[i] = qt[i] / std::sqrt(qs + 1e-6) / std::sqrt(double(K));
            kt[i] = kt[i] / std::sqrt(ks + 1e-6);
          }
          double beta = 1.0 / (1.0 + std::exp(-bp[t][h]));
          if (c.allowNegEigval)
            beta *= 2;
          double g = -std::exp(at(a + "A_log", h)) *
                     softplus(ap[t][h] + at(a + "dt_bias", h));
          for (double &s : S)
            s *= std::exp(g);
          for (int64_t j = 0; j < Vd; ++j) {
            double kS = 0;
            for (int64_t i = 0; i < K; ++i)
              kS += kt[i] * S[i * Vd + j];
            double u = beta * (v[t][h * Vd + j] - kS);
            for (int64_t i = 0; i < K; ++i)
              S[i * Vd + j] += kt[i] * u;
          }
          for (int64_t j = 0; j < Vd; ++j) {
            double s = 0;
            for (int64_t i = 0; i < K; ++i)
              s += qt[i] * S[i * Vd + j];
            o[t][h * Vd + j] = s;
          }
        }
      }
      for (int64_t t = 0; t < L; ++t) {
        // FusedRMSNormGated per head: normalise, scale, gate.
        std::vector<double> y(VD);
        for (int64_t h = 0; h < Hv; ++h) {
          double ss = 0;
          for (int64_t j = 0; j < Vd; ++j)
            ss += o[t][h * Vd + j] * o[t][h * Vd + j];
          double inv = 1.0 / std::sqrt(ss / double(Vd) + c.normEps);
          for (int64_t j = 0; j < Vd; ++j)
            y[h * Vd + j] = o[t][h * Vd + j] * inv *
                            at(a + "o_norm.weight", j) *
                            silu(gp[t][h * Vd + j]);
        }
        std::vector<double> out = linear(a + "o_proj.weight", y);
        for (int64_t d = 0; d < D; ++d)
          x[t][d] += out[d];
        // GatedMLP.
        std::vector<double> xn = rmsnorm(p + "mlp_norm.weight", x[t]);
        std::vector<double> gate = linear(p + "mlp.gate_proj.weight", xn);
        std::vector<double> up = linear(p + "mlp.up_proj.weight", xn);
        for (size_t f = 0; f < gate.size(); ++f)
          gate[f] = silu(gate[f]) * up[f];
        std::vector<double> down = linear(p + "mlp.down_proj.weight", gate);
        for (int64_t d = 0; d < D; ++d)
          x[t][d] += down[d];
      }
    }
    std::string head =
        has("lm_head.weight") ? "lm_head.weight" : "model.embeddings.weight";
    std::vector<std::vector<double>> logits(L);
    for (int64_t t = 0; t < L; ++t)
      logits[t] = linear(head, rmsnorm("model.norm.weight", x[t]));
    return logits;
  }
};

//===----------------------------------------------------------------------===//
// Tests
//===----------------------------------------------------------------------===//

/// Batched generation: prompts of 7, 1 and 4 tokens packed into one
/// prefill (ssm.delta_rule with cu_seqlens, states in pools) and batched
/// decode steps give what each prompt gives alone, and the double pass.
void checkBatchEqualsSeparateRuns(Model *model, const ModelConfig &c,
                                  ReferenceGdn &ref) {
  std::vector<int64_t> all = someTokens(12, c.vocab, 9);
  std::vector<std::vector<int64_t>> prompts{
      {all.begin(), all.begin() + 7},
      {all.begin() + 7, all.begin() + 8},
      {all.begin() + 8, all.end()}};
  const int64_t B = prompts.size(), V = c.vocab, steps = 4;
  // Each prompt alone: greedy tokens and the logits of every step.
  std::vector<std::vector<int64_t>> tokens(B);
  std::vector<std::vector<OwnedTensor>> logits(B);
  for (int64_t s = 0; s < B; ++s) {
    auto first = model->prefill(prompts[s]);
    ASSERT_TRUE(bool(first)) << llvm::toString(first.takeError());
    EXPECT_LT(relError(*first, 0, ref.logits(prompts[s]).back()), 2e-5);
    logits[s].push_back(std::move(*first));
    for (int64_t i = 0; i < steps; ++i) {
      Sampler pick(SamplingOptions{});
      tokens[s].push_back(pick.next(logits[s].back().as<float>(), V));
      if (i + 1 == steps)
        break;
      auto next = model->decode(tokens[s].back());
      ASSERT_TRUE(bool(next)) << llvm::toString(next.takeError());
      logits[s].push_back(std::move(*next));
    }
  }
  auto row = [&](const OwnedTensor &batch, int64_t s) {
    std::vector<double> r(batch.as<float>() + s * V,
                          batch.as<float>() + (s + 1) * V);
    return r;
  };
  auto first = model->prefillBatch(prompts);
  ASSERT_TRUE(bool(first)) << llvm::toString(first.takeError());
  ASSERT_EQ(first->shape(), (std::vector<int64_t>{B, V}));
  // Two f32 summation orders: alone, a decode step's projections run the
  // matrix-vector kernel (each row summed as a tree), in a batch the wide
  // kernel (K walked in order); 1e-5 of the largest logit is far below what
  // a wrong state slot or sequence offset gives.
  const double batchTol = 1e-5;
  for (int64_t s = 0; s < B; ++s)
    EXPECT_LT(relError(logits[s][0], 0, row(*first, s)), batchTol)
        << "prefill of prompt " << s;
  for (int64_t i = 1; i < steps; ++i) {
    std::vector<int64_t> step;
    for (int64_t s = 0; s < B; ++s)
      step.push_back(tokens[s][i - 1]);
    auto next = model->decodeBatch(step);
    ASSERT_TRUE(bool(next)) << llvm::toString(next.takeError());
    for (int64_t s = 0; s < B; ++s)
      EXPECT_LT(relError(logits[s][i], 0, row(*next, s)), batchTol)
          << "decode step " << i << " of prompt " << s;
  }
  auto generated = model->generateBatch(prompts, steps, SamplingOptions{});
  ASSERT_TRUE(bool(generated)) << llvm::toString(generated.takeError());
  EXPECT_EQ(*generated, tokens);
}

/// forward against the double pass; prefill of prompts shorter than, as
/// long as and longer than the conv window, then decode token by token,
/// against it and against forward; greedy generation follows the argmax;
/// a batch equals separate runs.
TEST(GatedDeltaNetModel, ForwardPrefillAndDecodeMatchTheDoublePass) {
  ModelConfig c = tinyGdn();
  WeightMap w = weightsOf(c, 3);
  std::vector<int64_t> tokens = someTokens(13, c.vocab, 1);
  ReferenceGdn ref{w, c};
  auto want = ref.logits(tokens);
  auto model = compileModel(copyOf(w), hintsOf(c));
  ASSERT_TRUE(model);
  EXPECT_EQ(model->config().describe(), c.describe());
  // Two layers of a conv state [2Hk K + Hv Vd, W - 1] and a delta state
  // [Hv, K, Vd], f32.
  EXPECT_EQ(model->stateBytes(), size_t(2 * (44 * 3 + 4 * 6 * 5) * 4));
  auto all = model->forward(tokens);
  ASSERT_TRUE(bool(all)) << llvm::toString(all.takeError());
  ASSERT_EQ(all->shape(), (std::vector<int64_t>{13, 37}));
  for (int64_t l = 0; l < 13; ++l)
    EXPECT_LT(relError(*all, l, want[l]), 2e-5) << "position " << l;
  for (int64_t prompt : {1, 2, 3, 4, 9})
    ASSERT_NO_FATAL_FAILURE(
        expectPrefillThenDecode(*model, tokens, prompt, want, &*all));
  // Greedy generation: each token is the argmax of the double pass over
  // the text so far.
  std::vector<int64_t> prompt = someTokens(4, c.vocab, 5);
  auto out = model->generate(prompt, 4, SamplingOptions{});
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  ASSERT_EQ(out->size(), 4u);
  std::vector<int64_t> text = prompt;
  for (int64_t tok : *out) {
    auto last = ref.logits(text).back();
    EXPECT_EQ(tok, std::max_element(last.begin(), last.end()) - last.begin());
    text.push_back(tok);
  }
  // The same model serves a batch (compiling the batched program only).
  checkBatchEqualsSeparateRuns(model.get(), c, ref);
}

/// A bf16 checkpoint on disk with conv biases, an untied head, one key
/// head for two value heads, allow_neg_eigval and norm_eps 1e-5 in its
/// config.json (fla's keys), loaded by Model::load.
TEST(GatedDeltaNetModel, LoadsBf16CheckpointWithConfigJson) {
  ModelConfig c = tinyGdn();
  c.attnHeads = 1;
  c.headDim = 8;
  c.vHeads = 2;
  c.headVDim = 7;
  c.convBias = true;
  c.tiedEmbeddings = false;
  c.allowNegEigval = true;
  c.normEps = 1e-5;
  WeightMap w = weightsOf(c, 7);
  WeightMap bf16;
  for (auto &[name, t] : w) {
    OwnedTensor b(DType::BF16, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i)
      b.setFromDouble(i, t.getAsDouble(i));
    bf16.emplace(name, std::move(b));
  }
  EXPECT_TRUE(bf16.count("model.layers.1.attn.v_conv1d.bias"));
  EXPECT_TRUE(bf16.count("lm_head.weight"));
  std::string path = tempPath("gdn.safetensors");
  std::string json = tempPath("gdn.config.json");
  ASSERT_FALSE(bool(writeWeights(path, bf16)));
  ASSERT_FALSE(bool(writeConfigJson(json, c)));
  std::vector<int64_t> tokens = someTokens(6, c.vocab, 3);
  auto want = ReferenceGdn{bf16, c}.logits(tokens);
  auto model = Model::load(path);
  llvm::sys::fs::remove(path);
  llvm::sys::fs::remove(json);
  ASSERT_TRUE(bool(model)) << llvm::toString(model.takeError());
  EXPECT_EQ((*model)->config().describe(), c.describe());
  auto logits = (*model)->forward(tokens);
  ASSERT_TRUE(bool(logits)) << llvm::toString(logits.takeError());
  for (int64_t l = 0; l < 6; ++l)
    EXPECT_LT(relError(*logits, l, want[l]), 2e-5) << "position " << l;
  auto first = (*model)->prefill(llvm::ArrayRef(tokens).take_front(3));
  ASSERT_TRUE(bool(first)) << llvm::toString(first.takeError());
  EXPECT_LT(relError(*first, 0, want[2]), 2e-5);
  for (int64_t l = 3; l < 6; ++l) {
    auto next = (*model)->decode(tokens[l]);
    ASSERT_TRUE(bool(next)) << llvm::toString(next.takeError());
    EXPECT_LT(relError(*next, 0, want[l]), 2e-5) << "decode at " << l;
  }
}

std::string loadError(WeightMap w, const ConfigHints &hints = {}) {
  auto m = Model::fromWeights(std::move(w), {}, hints);
  if (m) {
    ADD_FAILURE() << "expected the checkpoint to be rejected";
    return "";
  }
  return llvm::toString(m.takeError());
}

TEST(GatedDeltaNetModel, LoaderErrorsNameTheProblem) {
  ModelConfig c = tinyGdn();
  ConfigHints h = hintsOf(c);
  {
    WeightMap w = randomWeights(c, 1);
    w.erase("model.layers.1.attn.dt_bias");
    w["model.layers.0.attn.k_conv1d.weight"] =
        OwnedTensor(DType::F32, {12, 1, 3});
    std::string msg = loadError(std::move(w), h);
    EXPECT_NE(msg.find("checkpoint does not match gated_deltanet: d_model 24"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("missing tensor 'model.layers.1.attn.dt_bias' "
                       "(expected [4])"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("tensor 'model.layers.0.attn.k_conv1d.weight' has "
                       "shape [12, 1, 3]; expected [12, 1, 4]"),
              std::string::npos)
        << msg;
  }
  {
    // num_heads (or head_dim) from a config.json that does not fit q_proj
    // or the value heads.
    ConfigHints bad = h;
    bad.numHeads = 5;
    std::string msg = loadError(randomWeights(c, 1), bad);
    EXPECT_NE(msg.find("q_proj has 12 rows for 5 query/key heads "
                       "(num_heads)"),
              std::string::npos)
        << msg;
    ConfigHints dim = h;
    dim.numHeads = 0;
    dim.headDim = 4; // 3 key heads do not divide 4 value heads
    msg = loadError(randomWeights(c, 1), dim);
    EXPECT_NE(msg.find("q_proj has 12 rows for 3 query/key heads"),
              std::string::npos)
        << msg;
  }
  {
    WeightMap w = randomWeights(c, 1);
    for (const char *leaf : {"a_proj.weight", "b_proj.weight", "A_log",
                             "dt_bias", "q_conv1d.weight", "k_conv1d.weight",
                             "v_conv1d.weight", "g_proj.weight",
                             "o_norm.weight"})
      w.erase(std::string("model.layers.1.attn.") + leaf);
    std::string msg = loadError(std::move(w), h);
    EXPECT_NE(msg.find("gated_deltanet layer 1 has no 'attn.b_proj.weight': "
                       "an attention layer of a hybrid model"),
              std::string::npos)
        << msg;
  }
  {
    WeightMap w = randomWeights(c, 1);
    for (int64_t i = 0; i < c.nLayer; ++i)
      w.erase("model.layers." + std::to_string(i) + ".attn.g_proj.weight");
    std::string msg = loadError(std::move(w), h);
    EXPECT_NE(msg.find("use_gate = false) are not supported"),
              std::string::npos)
        << msg;
  }
  {
    WeightMap w = randomWeights(c, 1);
    w.erase("model.layers.0.attn.q_conv1d.weight");
    std::string msg = loadError(std::move(w), h);
    EXPECT_NE(msg.find("use_short_conv = false) are not supported"),
              std::string::npos)
        << msg;
  }
  {
    WeightMap w = randomWeights(c, 1);
    w["model.layers.0.attn.o_norm.weight"] = OwnedTensor(DType::F32, {6});
    std::string msg = loadError(std::move(w), h);
    EXPECT_NE(msg.find("v_proj has 20 rows, not 4 value heads (A_log) of 6 "
                       "(o_norm)"),
              std::string::npos)
        << msg;
  }
}

/// The gdn-130m configuration: fla's names and shapes, and its size.
TEST(GatedDeltaNetModel, Config130MLayout) {
  std::optional<ModelConfig> c = configByName("gdn-130m");
  ASSERT_TRUE(c);
  std::vector<TensorSpec> specs = checkpointTensors(*c);
  EXPECT_EQ(specs.size(), 2u + 12u * 18u);
  int64_t params = 0;
  for (const TensorSpec &s : specs) {
    int64_t n = 1;
    for (int64_t d : s.shape)
      n *= d;
    params += n;
  }
  EXPECT_GT(params, 125'000'000);
  EXPECT_LT(params, 140'000'000);
  auto shapeOf = [&](llvm::StringRef name) {
    for (const TensorSpec &s : specs)
      if (s.name == name)
        return s.shape;
    ADD_FAILURE() << "no tensor " << name.str();
    return std::vector<int64_t>{};
  };
  EXPECT_EQ(shapeOf("model.embeddings.weight"),
            (std::vector<int64_t>{50280, 768}));
  EXPECT_EQ(shapeOf("model.layers.11.attn.v_proj.weight"),
            (std::vector<int64_t>{1024, 768}));
  EXPECT_EQ(shapeOf("model.layers.0.attn.q_conv1d.weight"),
            (std::vector<int64_t>{512, 1, 4}));
  EXPECT_EQ(shapeOf("model.layers.3.attn.o_norm.weight"),
            (std::vector<int64_t>{256}));
  EXPECT_EQ(shapeOf("model.layers.3.mlp.down_proj.weight"),
            (std::vector<int64_t>{768, 2048}));
  // The program's decoding state: 12 layers of conv [2048, 3] and delta
  // state [4, 128, 256].
  int64_t stateElems = 0;
  for (auto &[name, shape] : programStates(*c)) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    stateElems += n;
  }
  EXPECT_EQ(stateElems, 12 * (2048 * 3 + 4 * 128 * 256));
}

} // namespace
