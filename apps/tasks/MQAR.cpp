//===- MQAR.cpp - multi-query associative recall --------------------------===//
//
// Zoology's MQAR: key-value pairs, then queries for the keys. The model is
// the COPY keyed store with learned-embedding stand-ins: key token c has a
// random +-1/sqrt(N) key embedding, value token c a random +-1/sqrt(Dv)
// value embedding, and the read-out unembeds against every value token
// (strict argmax). Tokens other than pairs and queries write nothing (k = 0)
// and are left out of the computation; the table gives Zoology's sequence
// length. Softmax attention with a KV cache of the pairs is the baseline.
//
//===----------------------------------------------------------------------===//

#include "Constructions.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace ssmc::tasks::detail;

namespace ssmc::tasks {

namespace {
constexpr int64_t kValueDim = 128; ///< Dv, the value embedding width
constexpr int64_t kAttnKeyDim = 64;

std::vector<float> randomSigns(Rng &rng, int64_t n, float amp) {
  std::bernoulli_distribution coin(0.5);
  std::vector<float> v(n);
  for (float &x : v)
    x = coin(rng) ? amp : -amp;
  return v;
}

struct Instance {
  std::vector<int64_t> keys, values; ///< pair i: keys[i] -> values[i]
  std::vector<int64_t> order;        ///< queried pair, per query
};

std::vector<Instance> makeInstances(Rng &rng, int64_t samples, int64_t pairs,
                                    int64_t half) {
  std::vector<Instance> out(samples);
  std::vector<int64_t> ids(half);
  std::iota(ids.begin(), ids.end(), 0);
  std::uniform_int_distribution<int64_t> val(0, half - 1);
  for (Instance &in : out) {
    std::shuffle(ids.begin(), ids.end(), rng); // distinct keys
    in.keys.assign(ids.begin(), ids.begin() + pairs);
    for (int64_t i = 0; i < pairs; ++i)
      in.values.push_back(val(rng));
    in.order.resize(pairs);
    std::iota(in.order.begin(), in.order.end(), 0);
    std::shuffle(in.order.begin(), in.order.end(), rng);
  }
  return out;
}

/// Scores read-outs `o` ([samples, 1, steps, Dv], queries from step
/// `first`) by unembedding against every value token.
Score unembed(const OwnedTensor &o, const std::vector<Instance> &inst,
              int64_t steps, int64_t first, const std::vector<float> &valueEmb,
              int64_t half) {
  Score s;
  std::vector<float> logits(half);
  for (size_t b = 0; b < inst.size(); ++b)
    for (size_t qi = 0; qi < inst[b].order.size(); ++qi) {
      const float *row = o.as<float>() + ((b * steps) + first + qi) * kValueDim;
      for (int64_t c = 0; c < half; ++c) {
        const float *e = &valueEmb[c * kValueDim];
        float acc = 0;
        for (int64_t t = 0; t < kValueDim; ++t)
          acc += e[t] * row[t];
        logits[c] = acc;
      }
      s.add(strictArgmax(logits.data(), half) ==
            inst[b].values[inst[b].order[qi]]);
    }
  return s;
}
} // namespace

namespace {

/// One run of MQAR: the two models, the embeddings and instances drawn in
/// turn from one random stream, and the tables and claims they fill.
class MQARTask {
public:
  MQARTask(const MQAROptions &o, const RunOptions &ro, Jit &store, Jit &attn)
      : o(o), ro(ro), store(store), attn(attn), rng(ro.seed + 2),
        half(o.vocab / 2),
        valueEmb(randomSigns(rng, half * kValueDim,
                             1.0f / std::sqrt(float(kValueDim)))),
        total(o.sizes.size() * (o.stateSizes.size() + 1)) {
    for (int64_t N : o.stateSizes)
      matrix.columns.push_back("N=" + std::to_string(N));
    matrix.columns.push_back("attention");
  }

  /// One (sequence, pairs) size: the same instances on the keyed store at
  /// every N, then on softmax attention.
  llvm::Error runSize(int64_t seq, int64_t pairs) {
    std::vector<Instance> inst = makeInstances(rng, o.samples, pairs, half);
    std::vector<std::string> mrow{std::to_string(seq) + " / " + std::to_string(pairs)};
    acc.emplace_back();
    for (int64_t N : o.stateSizes) {
      auto s = runStore(seq, pairs, N, inst);
      if (!s)
        return s.takeError();
      acc.back().push_back(s->rate());
      rows.rows.push_back({"linear attention", std::to_string(N),
                           std::to_string(N * kValueDim),
                           std::to_string(N * kValueDim * 4), std::to_string(seq),
                           std::to_string(pairs), std::to_string(o.samples),
                           percent(*s), s->str()});
      mrow.push_back(percent(*s));
    }
    auto s = runAttention(seq, pairs, inst);
    if (!s)
      return s.takeError();
    attnExact &= s->correct == s->total;
    int64_t cache = pairs * (kAttnKeyDim + kValueDim);
    rows.rows.push_back({"softmax attention", "-", std::to_string(cache),
                         std::to_string(cache * 4), std::to_string(seq),
                         std::to_string(pairs), std::to_string(o.samples),
                         percent(*s), s->str()});
    mrow.push_back(percent(*s));
    matrix.rows.push_back(mrow);
    return llvm::Error::success();
  }

  TaskResult finish() {
    TaskResult result;
    result.task = "MQAR";
    result.claims = claims();
    result.tables = {matrix, rows};
    return result;
  }

private:
  static std::string percent(const Score &s) {
    return llvm::formatv("{0:F1}%", 100 * s.rate()).str();
  }

  void say(const std::string &s) const {
    if (ro.progress)
      ro.progress(s);
  }

  /// The keyed store with state N x Dv: pairs write key embedding ->
  /// value embedding, queries read with their key's embedding.
  llvm::Expected<Score> runStore(int64_t seq, int64_t pairs, int64_t N,
                                 const std::vector<Instance> &inst) {
    say(llvm::formatv("mqar: sequence {0}, {1} pairs, N={2} ({3}/{4})", seq,
                      pairs, N, ++step, total));
    std::vector<float> keyEmb =
        randomSigns(rng, half * N, 1.0f / std::sqrt(float(N)));
    const int64_t S = 2 * pairs, B = o.samples;
    OwnedTensor q(DType::F32, {B, 1, S, N}), k(DType::F32, {B, 1, S, N});
    OwnedTensor v(DType::F32, {B, 1, S, kValueDim}), res(DType::F32, {B, 1, S, kValueDim});
    OwnedTensor g(DType::F32, {B, 1, S});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < pairs; ++i) {
        std::copy_n(&keyEmb[inst[b].keys[i] * N], N,
                    k.as<float>() + ((b * S) + i) * N);
        std::copy_n(&valueEmb[inst[b].values[i] * kValueDim], kValueDim,
                    v.as<float>() + ((b * S) + i) * kValueDim);
        std::copy_n(&keyEmb[inst[b].keys[inst[b].order[i]] * N], N,
                    q.as<float>() + ((b * S) + pairs + i) * N);
      }
    auto out = store.run("store", {q.view(), k.view(), v.view(), res.view(), g.view()});
    if (!out)
      return out.takeError();
    return unembed((*out)[0], inst, S, pairs, valueEmb, half);
  }

  /// Softmax attention over the pairs (random +-1 keys of width 64).
  llvm::Expected<Score> runAttention(int64_t seq, int64_t pairs,
                                     const std::vector<Instance> &inst) {
    say(llvm::formatv("mqar: sequence {0}, {1} pairs, attention ({2}/{3})", seq,
                      pairs, ++step, total));
    std::vector<float> attnKeys = randomSigns(rng, half * kAttnKeyDim, 1.0f);
    const int64_t B = o.samples;
    OwnedTensor q(DType::F32, {B, 1, pairs, kAttnKeyDim});
    OwnedTensor k(DType::F32, {B, 1, pairs, kAttnKeyDim});
    OwnedTensor v(DType::F32, {B, 1, pairs, kValueDim});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < pairs; ++i) {
        std::copy_n(&attnKeys[inst[b].keys[i] * kAttnKeyDim], kAttnKeyDim,
                    k.as<float>() + ((b * pairs) + i) * kAttnKeyDim);
        std::copy_n(&valueEmb[inst[b].values[i] * kValueDim], kValueDim,
                    v.as<float>() + ((b * pairs) + i) * kValueDim);
        std::copy_n(&attnKeys[inst[b].keys[inst[b].order[i]] * kAttnKeyDim],
                    kAttnKeyDim, q.as<float>() + ((b * pairs) + i) * kAttnKeyDim);
      }
    auto out = attn.run("attend", {q.view(), k.view(), v.view()});
    if (!out)
      return out.takeError();
    return unembed((*out)[0], inst, pairs, 0, valueEmb, half);
  }

  /// The state needed for >= 99% recall must grow with the pairs, and at a
  /// fixed N accuracy must not rise with more pairs.
  std::vector<Claim> claims() const {
    std::string needed;
    int64_t prevNeed = 0;
    bool grows = true, falls = true;
    for (size_t i = 0; i < o.sizes.size(); ++i) {
      int64_t need = -1;
      for (size_t n = 0; n < o.stateSizes.size() && need < 0; ++n)
        if (acc[i][n] >= 0.99)
          need = o.stateSizes[n];
      needed += llvm::formatv("{0} pairs: {1}; ", o.sizes[i].second,
                              need < 0 ? std::string("> ") +
                                             std::to_string(o.stateSizes.back())
                                       : "N = " + std::to_string(need));
      int64_t needOrInf = need < 0 ? INT64_MAX : need;
      grows &= needOrInf >= prevNeed;
      prevNeed = needOrInf;
      if (i > 0)
        for (size_t n = 0; n < o.stateSizes.size(); ++n)
          falls &= acc[i][n] <= acc[i - 1][n] + 0.02;
    }
    return {{"MQAR", "the state a recurrent model needs for recall grows with the number of pairs",
             grows && falls, "smallest N with >= 99%: " + needed},
            {"MQAR", "softmax attention (KV cache of the pairs) recalls exactly",
             attnExact, attnExact ? "every query of every size" : "some queries missed"}};
  }

  const MQAROptions &o;
  const RunOptions &ro;
  Jit &store, &attn;
  Rng rng;
  const int64_t half; ///< keys are the first half of the vocabulary
  const std::vector<float> valueEmb;
  const size_t total; ///< progress steps: every N and attention, per size
  size_t step = 0;

  Table rows{"mqar", "MQAR: recurrent keyed store with state N x Dv (Dv = 128) vs softmax attention",
             {"model", "state N", "state elements", "state bytes",
              "sequence", "pairs", "samples", "accuracy", "count"},
             {}};
  Table matrix{"mqar_matrix", "MQAR accuracy by (sequence, pairs) and state size N",
               {"sequence / pairs"}, {}};
  std::vector<std::vector<double>> acc; ///< per size, per N
  bool attnExact = true;
};

} // namespace

llvm::Expected<TaskResult> runMQAR(const MQAROptions &o, const RunOptions &ro) {
  auto store = compileModel(keyedStoreProgram("f32"), "MQAR", ro);
  if (!store)
    return store.takeError();
  auto attn = compileModel(attentionProgram(), "MQAR attention", ro);
  if (!attn)
    return attn.takeError();
  MQARTask task(o, ro, **store, **attn);
  for (auto [seq, pairs] : o.sizes)
    if (llvm::Error e = task.runSize(seq, pairs))
      return std::move(e);
  return task.finish();
}

} // namespace ssmc::tasks
