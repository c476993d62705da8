//===- MQAR.cpp - multi-query associative recall --------------------------===//
//
// Zoology's MQAR: key-value pairs, then queries for the keys. The model is
// the COPY keyed store with learned-embedding stand-ins: key token c has a
// random +-1/sqrt(N) key embedding, value token c a random +-1/sqrt(Dv)
// value embedding, and the read-out unembeds against every value token
// (strict argmax). Tokens other than pairs and queries write nothing (k = 0)
// and are left out of the computation; the table gives Zoology's sequence
// length. Softmax attention with a KV cache of the pairs is the baseline.
// Beside it, the delta-rule store (ssm.delta_rule) and linear attention
// on the same writes with N-dimensional keys: orthogonal pairs, keys
// written twice, and random keys up to 4N pairs.
//
//===----------------------------------------------------------------------===//

#include "Cells.h"
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
std::vector<float> randomSigns(uint64_t seed, int64_t n, float amp) {
  Rng rng(seed);
  return randomSigns(rng, n, amp);
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

/// One run of MQAR: the two models, the embeddings and the instances of
/// each size (each from a generator of its own), the cells that run them,
/// and the tables and claims they fill.
class MQARTask {
public:
  MQARTask(const MQAROptions &o, const RunOptions &ro, LazyModel &store,
           LazyModel &attn)
      : o(o), ro(ro), store(store), attn(attn), half(o.vocab / 2),
        valueEmb(randomSigns(
            cellSeed(ro.seed, "mqar/value embeddings"),
            half * kValueDim, 1.0f / std::sqrt(float(kValueDim)))),
        total(o.sizes.size() * (o.stateSizes.size() + 1)) {
    for (int64_t N : o.stateSizes)
      matrix.columns.push_back("N=" + std::to_string(N));
    matrix.columns.push_back("attention");
  }

  /// One (sequence, pairs) size: the same instances on the keyed store at
  /// every N, then on softmax attention.
  llvm::Error runSize(int64_t seq, int64_t pairs) {
    Rng rng(cellSeed(ro.seed, llvm::formatv("mqar/instances sequence={0} "
                                            "pairs={1}",
                                            seq, pairs)));
    std::vector<Instance> inst = makeInstances(rng, o.samples, pairs, half);
    std::vector<std::string> mrow{std::to_string(seq) + " / " + std::to_string(pairs)};
    acc.emplace_back();
    // Unembedding every query against the half vocabulary dominates.
    const double unembedCost = double(o.samples) * pairs * half * kValueDim;
    for (int64_t N : o.stateSizes) {
      auto fold = [&](const Score &sc) {
        const Score *s = &sc;
        acc.back().push_back(s->rate());
        rows.rows.push_back({"linear attention", std::to_string(N),
                             std::to_string(N * kValueDim),
                             std::to_string(N * kValueDim * 4), std::to_string(seq),
                             std::to_string(pairs), std::to_string(o.samples),
                             percent(*s), s->str()});
        mrow.push_back(percent(*s));
      };
      if (llvm::Error e = runCell<Score>(
              ro,
              llvm::formatv("mqar/store sequence={0} pairs={1} N={2}", seq,
                            pairs, N),
              unembedCost + 4.0 * o.samples * pairs * N * kValueDim,
              [&](Rng &rng) { return runStore(seq, pairs, N, inst, rng); },
              fold))
        return e;
    }
    return runCell<Score>(
        ro, llvm::formatv("mqar/attention sequence={0} pairs={1}", seq, pairs),
        unembedCost +
            2.0 * o.samples * pairs * pairs * (kAttnKeyDim + kValueDim),
        [&](Rng &rng) { return runAttention(seq, pairs, inst, rng); },
        [&](const Score &sc) { foldAttention(seq, pairs, sc, mrow); });
  }

  void foldAttention(int64_t seq, int64_t pairs, const Score &sc,
                     std::vector<std::string> &mrow) {
    const Score *s = &sc;
    attnExact &= s->correct == s->total;
    int64_t cache = pairs * (kAttnKeyDim + kValueDim);
    rows.rows.push_back({"softmax attention", "-", std::to_string(cache),
                         std::to_string(cache * 4), std::to_string(seq),
                         std::to_string(pairs), std::to_string(o.samples),
                         percent(*s), s->str()});
    mrow.push_back(percent(*s));
    matrix.rows.push_back(mrow);
  }

  TaskResult finish() {
    TaskResult result;
    result.task = "MQAR";
    if (folding(ro))
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
                                 const std::vector<Instance> &inst, Rng &rng) {
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
                                     const std::vector<Instance> &inst,
                                     Rng &rng) {
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
  LazyModel &store, &attn;
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

namespace {

/// The delta-rule store beside linear attention at key dimension N: the
/// same writes (key row, value token) and queries on both, values unembedded
/// against a vocabulary of their own. Linear attention adds k v^T, so a
/// key written twice reads the sum of its values; the delta rule (beta =
/// 1, unit keys) replaces what the key read by the new value. Both read a
/// linear map of N-dimensional keys: beyond N pairs the keys are linearly
/// dependent and no update rule stores every pair.
class DeltaStoreTask {
public:
  DeltaStoreTask(const MQAROptions &o, const RunOptions &ro, LazyModel &linear,
                 LazyModel &delta)
      : o(o), ro(ro), linear(linear), delta(delta),
        valueEmb(randomSigns(cellSeed(ro.seed, "mqar/delta value embeddings"),
                             o.deltaValues * kValueDim,
                             1.0f / std::sqrt(float(kValueDim)))) {}

  llvm::Error runKeyDim(int64_t N) {
    Rng rng(cellSeed(ro.seed, "mqar/delta episodes N=" + std::to_string(N)));
    auto episodes = [&](int64_t pairs, int64_t rows, int times) {
      return this->episodes(rng, pairs, rows, times);
    };
    // Orthogonal keys: the N one-hot rows, each written once.
    std::vector<float> oneHot(N * N, 0.0f);
    for (int64_t i = 0; i < N; ++i)
      oneHot[i * N + i] = 1.0f;
    if (llvm::Error e = compare(N, "one-hot", N, oneHot, episodes(N, N, 1),
                                orthogonal))
      return e;
    const int64_t half = std::max<int64_t>(1, N / 2);
    if (llvm::Error e = compare(N, "one-hot, written twice", half, oneHot,
                                episodes(half, N, 2), overwrite))
      return e;
    // Random unit keys (+-1/sqrt(N)) for up to 4N pairs.
    std::vector<float> random =
        randomSigns(rng, 4 * N * N, 1.0f / std::sqrt(float(N)));
    for (int64_t pairs : {half, N, 2 * N, 4 * N})
      if (llvm::Error e = compare(N, "random", pairs, random,
                                  episodes(pairs, 4 * N, 1),
                                  pairs > N ? beyond : within))
        return e;
    return llvm::Error::success();
  }

  Table table() const { return rows; }

  std::vector<Claim> claims() const {
    bool overwrites = true, bound = true, noBetter = true;
    std::string ow, bd, nb;
    for (const Point &p : overwrite) {
      overwrites &= p.delta.correct == p.delta.total &&
                    p.linear.rate() < 0.9;
      ow += llvm::formatv("N={0}: delta {1}, linear attention {2}; ", p.N,
                          percent(p.delta), percent(p.linear));
    }
    for (const Point &p : orthogonal) {
      bound &= p.delta.correct == p.delta.total &&
               p.linear.correct == p.linear.total;
      bd += llvm::formatv("N={0}, {1} orthogonal pairs: delta {2}, linear "
                          "attention {3}; ",
                          p.N, p.pairs, percent(p.delta), percent(p.linear));
    }
    for (const Point &p : beyond) {
      bound &= p.delta.correct < p.delta.total &&
               p.linear.correct < p.linear.total;
      bd += llvm::formatv("N={0}, {1} random pairs: delta {2}, linear "
                          "attention {3}; ",
                          p.N, p.pairs, percent(p.delta), percent(p.linear));
    }
    for (const std::vector<Point> *ps : {&within, &beyond})
      for (const Point &p : *ps) {
        noBetter &= p.delta.rate() <= p.linear.rate() + 0.02;
        nb += llvm::formatv("N={0}, {1} pairs: delta {2}, linear attention "
                            "{3}; ",
                            p.N, p.pairs, percent(p.delta), percent(p.linear));
      }
    return {{"MQAR",
             "the delta-rule store overwrites a key written twice where "
             "linear attention accumulates (the latest value is asked)",
             overwrites && !overwrite.empty(), ow},
            {"MQAR",
             "no update rule beats the state-size bound: with N-dimensional "
             "keys the delta rule, like linear attention, recalls N "
             "orthogonal pairs exactly and fails beyond N pairs",
             bound && !orthogonal.empty() && !beyond.empty(), bd},
            {"MQAR",
             "on distinct random keys (one pass of writes, beta = 1) the "
             "delta rule recalls no more than linear attention: each "
             "correction carries the crosstalk of the pairs before it",
             noBetter && !within.empty(), nb}};
  }

private:
  struct Episode {
    /// (key row, value token) written in turn, then asked in turn.
    std::vector<std::pair<int64_t, int64_t>> writes, queries;
  };
  struct Point {
    int64_t N = 0, pairs = 0;
    Score linear, delta;
  };
  friend void encodeCell(CellWriter &w, const Point &p) {
    w.put(p.N);
    w.put(p.pairs);
    w.put(p.linear);
    w.put(p.delta);
  }
  friend void decodeCell(CellReader &r, Point &p) {
    r.get(p.N);
    r.get(p.pairs);
    r.get(p.linear);
    r.get(p.delta);
  }

  static std::string percent(const Score &s) {
    return llvm::formatv("{0:F1}%", 100 * s.rate()).str();
  }

  /// o.samples episodes: `pairs` distinct key rows of `rows`, each written
  /// `times` times (a fresh value each time, other than the one before),
  /// then every key asked once for its latest value, in shuffled orders.
  std::vector<Episode> episodes(Rng &rng, int64_t pairs, int64_t rows,
                                int times) {
    std::vector<Episode> out(o.samples);
    std::vector<int64_t> ids(rows);
    std::iota(ids.begin(), ids.end(), 0);
    std::uniform_int_distribution<int64_t> val(0, o.deltaValues - 1);
    for (Episode &e : out) {
      std::shuffle(ids.begin(), ids.end(), rng);
      std::vector<int64_t> keys(ids.begin(), ids.begin() + pairs);
      std::vector<int64_t> latest(pairs, -1);
      for (int pass = 0; pass < times; ++pass) {
        std::vector<int64_t> order(pairs);
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), rng);
        for (int64_t i : order) {
          int64_t v = val(rng);
          while (v == latest[i] && o.deltaValues > 1)
            v = val(rng);
          latest[i] = v;
          e.writes.push_back({keys[i], v});
        }
      }
      std::vector<int64_t> order(pairs);
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      for (int64_t i : order)
        e.queries.push_back({keys[i], latest[i]});
    }
    return out;
  }

  llvm::Error compare(int64_t N, const std::string &keys, int64_t pairs,
                      const std::vector<float> &table,
                      const std::vector<Episode> &eps,
                      std::vector<Point> &into) {
    auto compute = [&](Rng &) -> llvm::Expected<Point> {
      if (ro.progress)
        ro.progress(llvm::formatv("mqar: delta rule vs linear attention, "
                                  "N={0}, {1} pairs, keys {2}",
                                  N, pairs, keys));
      Point p{N, pairs, {}, {}};
      for (bool isDelta : {false, true}) {
        auto s = run(isDelta, N, table, eps);
        if (!s)
          return s.takeError();
        (isDelta ? p.delta : p.linear) = *s;
      }
      return p;
    };
    const double steps = double(o.samples) * (eps[0].writes.size() +
                                              eps[0].queries.size());
    return runCell<Point>(
        ro,
        llvm::formatv("mqar/delta N={0} keys={1} pairs={2}", N, keys, pairs),
        steps * 8.0 * N * kValueDim +
            2.0 * o.samples * pairs * o.deltaValues * kValueDim,
        compute, [&](const Point &p) { fold(p, keys, eps, into); });
  }

  void fold(const Point &p, const std::string &keys,
            const std::vector<Episode> &eps, std::vector<Point> &into) {
    const int64_t N = p.N, pairs = p.pairs;
    rows.rows.push_back({std::to_string(N), keys, std::to_string(pairs),
                         std::to_string(eps[0].writes.size()),
                         std::to_string(o.samples), percent(p.linear),
                         p.linear.str(), percent(p.delta), p.delta.str()});
    into.push_back(p);
  }

  /// Writes, then queries (k = 0: nothing written), on one store.
  llvm::Expected<Score> run(bool isDelta, int64_t N,
                            const std::vector<float> &table,
                            const std::vector<Episode> &eps) {
    const int64_t B = eps.size(), W = eps[0].writes.size(),
                  Q = eps[0].queries.size(), T = W + Q;
    // [B, T, 1, x] (delta) and [B, 1, T, x] (linear attention) are the same
    // row-major order with one head.
    std::vector<float> qf(B * T * N, 0.0f), kf(B * T * N, 0.0f),
        vf(B * T * kValueDim, 0.0f), bf(B * T, 0.0f);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t i = 0; i < W; ++i) {
        auto [key, val] = eps[b].writes[i];
        std::copy_n(&table[key * N], N, &kf[(b * T + i) * N]);
        std::copy_n(&valueEmb[val * kValueDim], kValueDim,
                    &vf[(b * T + i) * kValueDim]);
        bf[b * T + i] = 1.0f;
      }
      for (int64_t i = 0; i < Q; ++i)
        std::copy_n(&table[eps[b].queries[i].first * N], N,
                    &qf[(b * T + W + i) * N]);
    }
    auto tensor = [](std::vector<int64_t> shape, const std::vector<float> &x) {
      OwnedTensor t(DType::F32, shape);
      std::copy(x.begin(), x.end(), t.as<float>());
      return t;
    };
    auto runStore = [&]() -> llvm::Expected<std::vector<OwnedTensor>> {
      if (isDelta) {
        OwnedTensor q = tensor({B, T, 1, N}, qf), k = tensor({B, T, 1, N}, kf);
        OwnedTensor v = tensor({B, T, 1, kValueDim}, vf);
        OwnedTensor beta = tensor({B, T, 1}, bf);
        return delta.run("delta", {q.view(), k.view(), v.view(), beta.view()});
      }
      OwnedTensor q = tensor({B, 1, T, N}, qf), k = tensor({B, 1, T, N}, kf);
      OwnedTensor v = tensor({B, 1, T, kValueDim}, vf);
      OwnedTensor res(DType::F32, {B, 1, T, kValueDim});
      std::fill_n(res.as<float>(), res.numel(), 0.0f);
      OwnedTensor g(DType::F32, {B, 1, T});
      std::fill_n(g.as<float>(), g.numel(), 0.0f);
      return linear.run("store",
                        {q.view(), k.view(), v.view(), res.view(), g.view()});
    };
    auto out = runStore();
    if (!out)
      return out.takeError();
    const float *read = (*out)[0].as<float>();
    Score s;
    std::vector<float> logits(o.deltaValues);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Q; ++i) {
        const float *row = read + (b * T + W + i) * kValueDim;
        for (int64_t c = 0; c < o.deltaValues; ++c) {
          const float *e = &valueEmb[c * kValueDim];
          float acc = 0;
          for (int64_t t = 0; t < kValueDim; ++t)
            acc += e[t] * row[t];
          logits[c] = acc;
        }
        s.add(strictArgmax(logits.data(), o.deltaValues) ==
              eps[b].queries[i].second);
      }
    return s;
  }

  const MQAROptions &o;
  const RunOptions &ro;
  LazyModel &linear, &delta;
  const std::vector<float> valueEmb;
  std::vector<Point> orthogonal, overwrite, within, beyond;
  Table rows{"mqar_delta",
             "MQAR: the delta-rule store vs linear attention, keys "
             "N-dimensional (state N x Dv, Dv = 128)",
             {"key dim N", "keys", "pairs", "writes", "samples",
              "linear attention", "count", "delta rule", "count"},
             {}};
};

} // namespace

llvm::Expected<TaskResult> runMQAR(const MQAROptions &o, const RunOptions &ro) {
  LazyModel store(keyedStoreProgram("f32"), "MQAR", ro);
  LazyModel attn(attentionProgram(), "MQAR attention", ro);
  MQARTask task(o, ro, store, attn);
  for (auto [seq, pairs] : o.sizes)
    if (llvm::Error e = task.runSize(seq, pairs))
      return std::move(e);
  TaskResult result = task.finish();
  if (o.deltaKeyDims.empty())
    return result;
  LazyModel delta(deltaStoreProgram(), "MQAR delta rule", ro);
  DeltaStoreTask deltaTask(o, ro, store, delta);
  for (int64_t N : o.deltaKeyDims)
    if (llvm::Error e = deltaTask.runKeyDim(N))
      return std::move(e);
  result.tables.push_back(deltaTask.table());
  if (folding(ro))
    for (Claim &c : deltaTask.claims())
      result.claims.push_back(std::move(c));
  return result;
}

} // namespace ssmc::tasks
