//===- Reference.h - plain double-precision reference numerics --*- C++ -*-===//
//
// The ground truth every ssmc test and benchmark compares against: each op's
// formula written as the plainest possible loop nest in double precision,
// straight from the op's documented semantics. Nothing here is shared with,
// generated from or tuned like any lowering: when a lowering and this file
// disagree, this file is the one that reads like the formula.
//
// Header-only, standard library only, so a benchmark or a test can include it
// without MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_REFERENCE_H
#define SSMC_REFERENCE_H

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace ssmc::ref {

inline double softplus(double x) {
  // log(1 + e^x) without overflow for large x.
  return x > 20.0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

inline double silu(double x) { return x / (1.0 + std::exp(-x)); }

/// Inputs of ssm.selective_scan in its layouts (row-major): u, delta, z
/// [B, Dm, L]; A [Dm, N]; B, C [B, N, L] when their group count is 0,
/// [B, G, N, L] with G dividing Dm, or [Dm, N] when fixed over time; D,
/// deltaBias [Dm]; h0 [B, Dm, N]. Empty optional vectors mean the operand
/// is absent.
struct SelectiveScanProblem {
  int64_t batch = 1, channels = 1, seqLen = 1, stateSize = 1;
  int64_t groupsB = 0, groupsC = 0; ///< 0: [B, N, L]; G > 0: [B, G, N, L]
  bool fixedB = false, fixedC = false; ///< [Dm, N] (groups ignored)
  bool deltaSoftplus = false;
  std::vector<double> u, delta, A, B, C;
  std::vector<double> D, z, deltaBias, h0; ///< h0: [S, Dm, N]
  /// Empty: S = B sequences; else S + 1 offsets into L of a packed batch.
  std::vector<int64_t> cuSeqlens;
  /// Empty, or [B, L]: the state restarts from zero wherever a row's index
  /// changes from the step before.
  std::vector<int64_t> seqIdx;
};

struct SelectiveScanResult {
  std::vector<double> out;        ///< [B, Dm, L]
  std::vector<double> finalState; ///< [B, Dm, N]
};

/// Index of B[b, g, n, t] / C[b, g, n, t] (B[d, n] / C[d, n] when fixed)
/// for channel d.
inline int64_t bcIndex(const SelectiveScanProblem &p, int64_t groups,
                       bool fixed, int64_t b, int64_t d, int64_t n, int64_t t) {
  const int64_t N = p.stateSize, L = p.seqLen;
  if (fixed)
    return d * N + n;
  if (groups == 0)
    return (b * N + n) * L + t;
  const int64_t g = d / (p.channels / groups);
  return ((b * groups + g) * N + n) * L + t;
}

inline SelectiveScanResult selectiveScan(const SelectiveScanProblem &p) {
  const int64_t Bt = p.batch, Dm = p.channels, L = p.seqLen, N = p.stateSize;
  const bool packed = !p.cuSeqlens.empty();
  const int64_t S = packed ? int64_t(p.cuSeqlens.size()) - 1 : Bt;
  SelectiveScanResult r;
  r.out.assign(Bt * Dm * L, 0.0);
  r.finalState.assign(S * Dm * N, 0.0);
  for (int64_t seq = 0; seq < S; ++seq) {
    const int64_t b = packed ? 0 : seq;
    const int64_t begin = packed ? p.cuSeqlens[seq] : 0;
    const int64_t end = packed ? p.cuSeqlens[seq + 1] : L;
    for (int64_t d = 0; d < Dm; ++d) {
      std::vector<double> h(N, 0.0);
      if (!p.h0.empty())
        for (int64_t n = 0; n < N; ++n)
          h[n] = p.h0[(seq * Dm + d) * N + n];
      for (int64_t t = begin; t < end; ++t) {
        if (!p.seqIdx.empty() && t > 0 &&
            p.seqIdx[b * L + t] != p.seqIdx[b * L + t - 1])
          std::fill(h.begin(), h.end(), 0.0);
        const int64_t i = (b * Dm + d) * L + t;
        double dt = p.delta[i];
        if (!p.deltaBias.empty())
          dt += p.deltaBias[d];
        if (p.deltaSoftplus)
          dt = softplus(dt);
        double y = 0.0;
        for (int64_t n = 0; n < N; ++n) {
          const double a = p.A[d * N + n];
          const double bv = p.B[bcIndex(p, p.groupsB, p.fixedB, b, d, n, t)];
          const double cv = p.C[bcIndex(p, p.groupsC, p.fixedC, b, d, n, t)];
          h[n] = std::exp(dt * a) * h[n] + dt * bv * p.u[i];
          y += cv * h[n];
        }
        if (!p.D.empty())
          y += p.D[d] * p.u[i];
        if (!p.z.empty())
          y *= silu(p.z[i]);
        r.out[i] = y;
      }
      for (int64_t n = 0; n < N; ++n)
        r.finalState[(seq * Dm + d) * N + n] = h[n];
    }
  }
  return r;
}

/// ssm.causal_conv1d: x [B, D, L], weight [D, W], bias [D] or empty,
/// initialState [B, D, W-1] or empty. Returns {out [B, D, L], final state
/// [B, D, W-1]}.
inline std::pair<std::vector<double>, std::vector<double>>
causalConv1d(int64_t batch, int64_t channels, int64_t len, int64_t width,
             const std::vector<double> &x, const std::vector<double> &weight,
             const std::vector<double> &bias,
             const std::vector<double> &initialState, bool applySilu) {
  std::vector<double> out(batch * channels * len), fin(batch * channels * (width - 1));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t d = 0; d < channels; ++d) {
      auto xx = [&](int64_t t) -> double {
        if (t >= 0)
          return x[(b * channels + d) * len + t];
        if (initialState.empty())
          return 0.0;
        return initialState[(b * channels + d) * (width - 1) + (width - 1 + t)];
      };
      for (int64_t t = 0; t < len; ++t) {
        double s = bias.empty() ? 0.0 : bias[d];
        for (int64_t i = 0; i < width; ++i)
          s += weight[d * width + i] * xx(t - width + 1 + i);
        out[(b * channels + d) * len + t] = applySilu ? silu(s) : s;
      }
      for (int64_t j = 0; j < width - 1; ++j)
        fin[(b * channels + d) * (width - 1) + j] = xx(len - width + 1 + j);
    }
  return {out, fin};
}

/// One decode step of the causal conv, as causal-conv1d's
/// causal_conv1d_update_ref for one token: x [B, D]; state [P, D, S] with
/// S >= W - 1 (P = B without slot indices); weight [D, W]; bias [D] or
/// empty. Batch entry b works on state slot slots[b] (b when `slots` is
/// empty; a negative slot is padding: output 0, no slot touched). Without
/// `cacheSeqlens` the window is the last W - 1 state entries then x, and
/// the state shifts left by one with x appended; with it (a ring buffer of
/// S entries, c = cacheSeqlens[b]) the window is the entries
/// (c - (W - 1) + j) mod S, j < W - 1, then x, and x is written to entry
/// c mod S. Returns {out [B, D], the updated state [P, D, S]}.
inline std::pair<std::vector<double>, std::vector<double>>
causalConv1dStep(int64_t batch, int64_t channels, int64_t stateLen,
                 int64_t width, const std::vector<double> &x,
                 std::vector<double> state, const std::vector<double> &weight,
                 const std::vector<double> &bias,
                 const std::vector<int64_t> &cacheSeqlens,
                 const std::vector<int64_t> &slots, bool applySilu) {
  std::vector<double> out(batch * channels, 0.0);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t slot = slots.empty() ? b : slots[b];
    if (slot < 0)
      continue;
    for (int64_t d = 0; d < channels; ++d) {
      // (No state at all when S = 0: W = 1 reads only x.)
      double *st = state.data() + (slot * channels + d) * stateLen;
      const double xv = x[b * channels + d];
      std::vector<double> window(width);
      for (int64_t j = 0; j < width - 1; ++j) {
        int64_t at = cacheSeqlens.empty()
                         ? stateLen - (width - 1) + j
                         : cacheSeqlens[b] - (width - 1) + j;
        at = ((at % stateLen) + stateLen) % stateLen;
        window[j] = st[at];
      }
      window[width - 1] = xv;
      double s = bias.empty() ? 0.0 : bias[d];
      for (int64_t i = 0; i < width; ++i)
        s += weight[d * width + i] * window[i];
      out[b * channels + d] = applySilu ? silu(s) : s;
      if (stateLen == 0)
        continue;
      if (cacheSeqlens.empty()) {
        for (int64_t j = 0; j + 1 < stateLen; ++j)
          st[j] = st[j + 1];
        st[stateLen - 1] = xv;
      } else {
        st[cacheSeqlens[b] % stateLen] = xv;
      }
    }
  }
  return {out, state};
}

/// Inputs of ssm.ssd (row-major): x, z [B, L, H, P]; dt [B, L, H]; A,
/// dtBias [H]; D [H] or [H, P] (told apart by its size); B, C [B, L, G, N];
/// h0 [S, H, P, N]; cuSeqlens empty (S = B sequences) or S + 1 offsets into
/// L of a packed batch (B = 1); seqIdx empty or [B, L] (the state restarts
/// from zero wherever a row's index changes). Empty optionals are absent. dtLimit clamps
/// dt to [lo, hi] after bias and softplus (mamba_chunk_scan_combined's
/// dt_limit, whose default (0, inf) is no clamp).
struct SSDProblem {
  int64_t batch = 1, seqLen = 1, heads = 1, headDim = 1, groups = 1,
          stateSize = 1;
  bool dtSoftplus = false;
  std::optional<std::pair<double, double>> dtLimit;
  std::vector<double> x, dt, A, B, C, D, z, dtBias, h0;
  std::vector<int64_t> cuSeqlens, seqIdx;
};

struct SSDResult {
  std::vector<double> out;        ///< [B, L, H, P]
  std::vector<double> finalState; ///< [S, H, P, N]
};

inline SSDResult ssd(const SSDProblem &p) {
  const int64_t L = p.seqLen, H = p.heads, P = p.headDim, G = p.groups,
                N = p.stateSize;
  const bool packed = !p.cuSeqlens.empty();
  const int64_t S = packed ? int64_t(p.cuSeqlens.size()) - 1 : p.batch;
  SSDResult r;
  r.out.assign(p.batch * L * H * P, 0.0);
  r.finalState.assign(S * H * P * N, 0.0);
  for (int64_t seq = 0; seq < S; ++seq) {
    const int64_t b = packed ? 0 : seq;
    const int64_t begin = packed ? p.cuSeqlens[seq] : 0;
    const int64_t end = packed ? p.cuSeqlens[seq + 1] : L;
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / (H / G);
      std::vector<double> st(P * N, 0.0);
      if (!p.h0.empty())
        for (int64_t i = 0; i < P * N; ++i)
          st[i] = p.h0[(seq * H + h) * P * N + i];
      for (int64_t t = begin; t < end; ++t) {
        if (!p.seqIdx.empty() && t > 0 &&
            p.seqIdx[b * L + t] != p.seqIdx[b * L + t - 1])
          std::fill(st.begin(), st.end(), 0.0);
        double dt = p.dt[(b * L + t) * H + h];
        if (!p.dtBias.empty())
          dt += p.dtBias[h];
        if (p.dtSoftplus)
          dt = softplus(dt);
        if (p.dtLimit)
          dt = std::min(std::max(dt, p.dtLimit->first), p.dtLimit->second);
        const double decay = std::exp(dt * p.A[h]);
        for (int64_t pi = 0; pi < P; ++pi) {
          const int64_t xi = ((b * L + t) * H + h) * P + pi;
          double y = 0;
          for (int64_t n = 0; n < N; ++n) {
            const int64_t bi = ((b * L + t) * G + g) * N + n;
            st[pi * N + n] = decay * st[pi * N + n] + dt * p.x[xi] * p.B[bi];
            y += p.C[bi] * st[pi * N + n];
          }
          if (!p.D.empty())
            y += (int64_t(p.D.size()) == H ? p.D[h] : p.D[h * P + pi]) * p.x[xi];
          if (!p.z.empty())
            y *= silu(p.z[xi]);
          r.out[xi] = y;
        }
      }
      for (int64_t i = 0; i < P * N; ++i)
        r.finalState[(seq * H + h) * P * N + i] = st[i];
    }
  }
  return r;
}

/// Inputs of ssm.linear_attention (row-major): q, k [B, H, L, K]; v
/// [B, H, L, V]; gate (log decays) empty, [B, H, L] or, with gatePerKey,
/// [B, H, L, K]; h0 [S, H, K, V] or empty; cuSeqlens empty (S = B sequences)
/// or S + 1 offsets into L of a packed batch (B = 1).
struct LinearAttentionProblem {
  enum class FeatureMap { Identity, EluPlusOne, Relu };
  int64_t batch = 1, heads = 1, seqLen = 1, keyDim = 1, valueDim = 1;
  std::vector<double> q, k, v, gate, h0;
  bool gatePerKey = false;
  std::vector<int64_t> cuSeqlens;
  FeatureMap featureMap = FeatureMap::Identity;
  double scale = -1; ///< < 0: K^-1/2
  bool normalize = false;
  double eps = 1e-10;    ///< added to the normaliser q . z
  std::vector<double> z0; ///< [S, H, K] initial normaliser (empty: zeros)
  bool reverse = false;  ///< steps right to left within each sequence
};

struct LinearAttentionResult {
  std::vector<double> out;        ///< [B, H, L, V]
  std::vector<double> finalState; ///< [S, H, K, V]
  std::vector<double> finalZ;     ///< [S, H, K]
};

inline double featureMap(LinearAttentionProblem::FeatureMap f, double x) {
  switch (f) {
  case LinearAttentionProblem::FeatureMap::Identity:
    return x;
  case LinearAttentionProblem::FeatureMap::EluPlusOne:
    return x > 0 ? x + 1 : std::exp(x);
  case LinearAttentionProblem::FeatureMap::Relu:
    return x > 0 ? x : 0;
  }
  return x;
}

inline LinearAttentionResult
linearAttention(const LinearAttentionProblem &p) {
  const int64_t H = p.heads, L = p.seqLen, K = p.keyDim, V = p.valueDim;
  const double scale = p.scale >= 0 ? p.scale : 1.0 / std::sqrt(double(K));
  const bool packed = !p.cuSeqlens.empty();
  const int64_t S = packed ? int64_t(p.cuSeqlens.size()) - 1 : p.batch;
  LinearAttentionResult r;
  r.out.assign(p.batch * H * L * V, 0.0);
  r.finalState.assign(S * H * K * V, 0.0);
  r.finalZ.assign(S * H * K, 0.0);
  for (int64_t seq = 0; seq < S; ++seq) {
    const int64_t b = packed ? 0 : seq;
    const int64_t begin = packed ? p.cuSeqlens[seq] : 0;
    const int64_t end = packed ? p.cuSeqlens[seq + 1] : L;
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> state(K * V, 0.0), z(K, 0.0);
      if (!p.h0.empty())
        for (int64_t i = 0; i < K * V; ++i)
          state[i] = p.h0[(seq * H + h) * K * V + i];
      if (!p.z0.empty())
        for (int64_t i = 0; i < K; ++i)
          z[i] = p.z0[(seq * H + h) * K + i];
      for (int64_t step = 0; step < end - begin; ++step) {
        const int64_t t = p.reverse ? end - 1 - step : begin + step;
        const int64_t bht = (b * H + h) * L + t;
        std::vector<double> qt(K), kt(K);
        for (int64_t i = 0; i < K; ++i) {
          qt[i] = scale * featureMap(p.featureMap, p.q[bht * K + i]);
          kt[i] = featureMap(p.featureMap, p.k[bht * K + i]);
        }
        for (int64_t i = 0; i < K; ++i) {
          double g = 1.0;
          if (!p.gate.empty())
            g = std::exp(p.gatePerKey ? p.gate[bht * K + i] : p.gate[bht]);
          z[i] = g * z[i] + kt[i];
          for (int64_t j = 0; j < V; ++j)
            state[i * V + j] = g * state[i * V + j] + kt[i] * p.v[bht * V + j];
        }
        double den = 0;
        for (int64_t i = 0; i < K; ++i)
          den += z[i] * qt[i];
        for (int64_t j = 0; j < V; ++j) {
          double o = 0;
          for (int64_t i = 0; i < K; ++i)
            o += state[i * V + j] * qt[i];
          r.out[bht * V + j] = p.normalize ? o / (den + p.eps) : o;
        }
      }
      for (int64_t i = 0; i < K * V; ++i)
        r.finalState[(seq * H + h) * K * V + i] = state[i];
      for (int64_t i = 0; i < K; ++i)
        r.finalZ[(seq * H + h) * K + i] = z[i];
    }
  }
  return r;
}

/// Inputs of ssm.delta_rule (row-major, fla's sequence-first layout): q, k
/// [B, T, Hk, K]; v [B, T, H, V]; beta [B, T, H] (delta forms) or a, b
/// [B, T, H, K] (DPLR form); gate (log decays) empty, [B, T, H] or, with
/// gatePerKey, [B, T, H, K]; h0 [S, H, K, V] or empty; cuSeqlens empty (S =
/// B) or S + 1 offsets into T of a packed batch (B = 1).
struct DeltaRuleProblem {
  int64_t batch = 1, seqLen = 1, keyHeads = 1, heads = 1, keyDim = 1,
          valueDim = 1;
  std::vector<double> q, k, v, beta, gate, a, b, h0;
  bool gatePerKey = false;
  bool l2norm = false;
  double scale = -1; ///< < 0: K^-1/2
  std::vector<int64_t> cuSeqlens;
};

struct DeltaRuleResult {
  std::vector<double> out;        ///< [B, T, H, V]
  std::vector<double> finalState; ///< [S, H, K, V]
};

/// fla's naive recurrences (gated_delta_rule/naive.py, kda/naive.py,
/// rwkv7 recurrent_naive.py), one step at a time with the state S [K, V]:
///   delta forms: S = diag(exp g) S; u = beta (v - S^T k); S += k u^T
///   DPLR form:   S = diag(exp g) S + b (a^T S_prev) + k v^T
///   o = S^T (scale q); q and k l2-normalised (x / sqrt(sum x^2 + 1e-6))
///   first when asked.
inline DeltaRuleResult deltaRule(const DeltaRuleProblem &p) {
  const int64_t T = p.seqLen, Hk = p.keyHeads, H = p.heads, K = p.keyDim,
                V = p.valueDim;
  const double scale = p.scale >= 0 ? p.scale : 1.0 / std::sqrt(double(K));
  const bool packed = !p.cuSeqlens.empty(), dplr = !p.a.empty();
  const int64_t S = packed ? int64_t(p.cuSeqlens.size()) - 1 : p.batch;
  DeltaRuleResult r;
  r.out.assign(p.batch * T * H * V, 0.0);
  r.finalState.assign(S * H * K * V, 0.0);
  auto normalised = [&](const std::vector<double> &x, int64_t at) {
    std::vector<double> y(x.begin() + at, x.begin() + at + K);
    if (p.l2norm) {
      double ss = 0;
      for (double e : y)
        ss += e * e;
      for (double &e : y)
        e /= std::sqrt(ss + 1e-6);
    }
    return y;
  };
  for (int64_t seq = 0; seq < S; ++seq) {
    const int64_t bi = packed ? 0 : seq;
    const int64_t begin = packed ? p.cuSeqlens[seq] : 0;
    const int64_t end = packed ? p.cuSeqlens[seq + 1] : T;
    for (int64_t h = 0; h < H; ++h) {
      const int64_t hk = h / (H / Hk);
      std::vector<double> st(K * V, 0.0);
      if (!p.h0.empty())
        for (int64_t i = 0; i < K * V; ++i)
          st[i] = p.h0[(seq * H + h) * K * V + i];
      for (int64_t t = begin; t < end; ++t) {
        const int64_t qkAt = ((bi * T + t) * Hk + hk) * K;
        const int64_t bth = (bi * T + t) * H + h;
        std::vector<double> qt = normalised(p.q, qkAt);
        std::vector<double> kt = normalised(p.k, qkAt);
        for (double &e : qt)
          e *= scale;
        std::vector<double> w(K, 1.0);
        if (!p.gate.empty())
          for (int64_t i = 0; i < K; ++i)
            w[i] = std::exp(p.gatePerKey ? p.gate[bth * K + i] : p.gate[bth]);
        if (dplr) {
          std::vector<double> sa(V, 0.0);
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < V; ++j)
              sa[j] += p.a[bth * K + i] * st[i * V + j];
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < V; ++j)
              st[i * V + j] = w[i] * st[i * V + j] + p.b[bth * K + i] * sa[j] +
                              kt[i] * p.v[bth * V + j];
        } else {
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < V; ++j)
              st[i * V + j] *= w[i];
          for (int64_t j = 0; j < V; ++j) {
            double pred = 0;
            for (int64_t i = 0; i < K; ++i)
              pred += kt[i] * st[i * V + j];
            double u = p.beta[bth] * (p.v[bth * V + j] - pred);
            for (int64_t i = 0; i < K; ++i)
              st[i * V + j] += kt[i] * u;
          }
        }
        for (int64_t j = 0; j < V; ++j) {
          double o = 0;
          for (int64_t i = 0; i < K; ++i)
            o += qt[i] * st[i * V + j];
          r.out[bth * V + j] = o;
        }
      }
      for (int64_t i = 0; i < K * V; ++i)
        r.finalState[(seq * H + h) * K * V + i] = st[i];
    }
  }
  return r;
}

/// Inputs of ssm.attention (row-major): q [B, H, Lq, d], k [B, Hkv, Lk, d],
/// v [B, Hkv, Lk, dv], and flash-attention's score options.
struct AttentionProblem {
  int64_t batch = 1, heads = 1, kvHeads = 1, queryLen = 1, keyLen = 1,
          headDim = 1, valueDim = 1;
  std::vector<double> q, k, v;
  bool causal = false;
  int64_t window = 0; ///< > 0: sliding window (with causal): left = w - 1
  /// flash-attention's window_size = (left, right); -1: unbounded.
  int64_t windowLeft = -1, windowRight = -1;
  double scale = -1;   ///< < 0: d^-1/2
  double softcap = 0;  ///< > 0: s = softcap * tanh(s / softcap)
  /// ALiBi slopes [H], or [B, H] with alibiPerBatch.
  std::vector<double> alibiSlopes;
  bool alibiPerBatch = false;
  std::vector<double> sinks; ///< [H] sink logits (gpt-oss)
  /// Packed sequences (batch = 1): offsets [S + 1] into Lq and Lk.
  std::vector<int64_t> cuSeqlensQ, cuSeqlensK;
  /// Keys used per batch entry (or per packed sequence).
  std::vector<int64_t> sequsedK;
};

/// o [B, H, Lq, dv], from flash-attention's attention_ref formula: scores
/// scale * q.k, softcap * tanh(scores / softcap), the local mask
/// row + sk - sq - left <= col <= row + sk - sq + right (causal: right = 0)
/// per sequence, the ALiBi bias -slope * |row + sk - sq - col|, and a
/// softmax over the visible keys whose denominator also holds exp(sink)
/// (gpt-oss's sinks); a row that sees no key is 0.
inline std::vector<double> attention(const AttentionProblem &p) {
  const int64_t H = p.heads, Lq = p.queryLen, Lk = p.keyLen, d = p.headDim,
                dv = p.valueDim, group = p.heads / p.kvHeads;
  const double scale = p.scale >= 0 ? p.scale : 1.0 / std::sqrt(double(d));
  int64_t left = p.windowLeft, right = p.windowRight;
  if (p.window > 0)
    left = p.window - 1;
  if (p.causal)
    right = 0;
  // Segments: (batch entry, first query, query count, first key, key count).
  struct Segment { int64_t b, q0, sq, k0, sk; };
  std::vector<Segment> segments;
  if (!p.cuSeqlensQ.empty()) {
    for (size_t s = 0; s + 1 < p.cuSeqlensQ.size(); ++s) {
      int64_t sk = p.cuSeqlensK[s + 1] - p.cuSeqlensK[s];
      if (!p.sequsedK.empty())
        sk = p.sequsedK[s];
      segments.push_back({0, p.cuSeqlensQ[s],
                          p.cuSeqlensQ[s + 1] - p.cuSeqlensQ[s],
                          p.cuSeqlensK[s], sk});
    }
  } else {
    for (int64_t b = 0; b < p.batch; ++b)
      segments.push_back(
          {b, 0, Lq, 0, p.sequsedK.empty() ? Lk : p.sequsedK[b]});
  }
  std::vector<double> out(p.batch * H * Lq * dv, 0.0);
  for (const Segment &seg : segments)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t b = seg.b, hk = h / group;
      for (int64_t row = 0; row < seg.sq; ++row) {
        const int64_t i = seg.q0 + row;
        const int64_t pos = row + seg.sk - seg.sq;
        std::vector<double> score(seg.sk);
        std::vector<bool> visible(seg.sk, true);
        bool any = false;
        double best = p.sinks.empty() ? -INFINITY : p.sinks[h];
        for (int64_t col = 0; col < seg.sk; ++col) {
          if ((left >= 0 && col < pos - left) ||
              (right >= 0 && col > pos + right))
            visible[col] = false;
          if (!visible[col])
            continue;
          const int64_t j = seg.k0 + col;
          double s = 0;
          for (int64_t c = 0; c < d; ++c)
            s += p.q[((b * H + h) * Lq + i) * d + c] *
                 p.k[((b * p.kvHeads + hk) * Lk + j) * d + c];
          s *= scale;
          if (p.softcap > 0)
            s = p.softcap * std::tanh(s / p.softcap);
          if (!p.alibiSlopes.empty()) {
            double slope = p.alibiSlopes[p.alibiPerBatch ? b * H + h : h];
            s -= slope * double(std::llabs(pos - col));
          }
          score[col] = s;
          best = std::max(best, s);
          any = true;
        }
        if (!any)
          continue;
        double sum = p.sinks.empty() ? 0.0 : std::exp(p.sinks[h] - best);
        for (int64_t col = 0; col < seg.sk; ++col)
          if (visible[col])
            sum += std::exp(score[col] - best);
        for (int64_t col = 0; col < seg.sk; ++col) {
          if (!visible[col])
            continue;
          const double w = std::exp(score[col] - best) / sum;
          const int64_t j = seg.k0 + col;
          for (int64_t c = 0; c < dv; ++c)
            out[((b * H + h) * Lq + i) * dv + c] +=
                w * p.v[((b * p.kvHeads + hk) * Lk + j) * dv + c];
        }
      }
    }
  return out;
}

/// Combiner of ssm.scan: takes the accumulators and the next elements (one
/// value per scanned input each) and returns the new accumulators.
using Combiner = std::function<std::vector<double>(
    const std::vector<double> &acc, const std::vector<double> &next)>;

/// ssm.scan over `inputs` (all of row-major `shape`) along `axis`, with the
/// semantics of the op: inclusive out_t = init (+) x_0 (+) ... (+) x_t,
/// exclusive out_t = init (+) x_0 (+) ... (+) x_{t-1}; `reverse` walks the
/// axis from its end.
inline std::vector<std::vector<double>>
scan(const std::vector<std::vector<double>> &inputs,
     const std::vector<int64_t> &shape, int64_t axis, const Combiner &combine,
     bool reverse = false, bool exclusive = false,
     const std::optional<std::vector<double>> &init = std::nullopt) {
  assert(!exclusive || init);
  const size_t k = inputs.size();
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i)
    outer *= shape[i];
  for (size_t i = axis + 1; i < shape.size(); ++i)
    inner *= shape[i];
  const int64_t len = shape[axis];
  std::vector<std::vector<double>> out(k, std::vector<double>(outer * len * inner));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      std::optional<std::vector<double>> acc = init;
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = reverse ? len - 1 - s : s;
        const int64_t idx = (o * len + t) * inner + in;
        std::vector<double> x(k);
        for (size_t j = 0; j < k; ++j)
          x[j] = inputs[j][idx];
        if (exclusive) {
          for (size_t j = 0; j < k; ++j)
            out[j][idx] = (*acc)[j];
          acc = combine(*acc, x);
        } else {
          acc = acc ? combine(*acc, x) : x;
          for (size_t j = 0; j < k; ++j)
            out[j][idx] = (*acc)[j];
        }
      }
    }
  }
  return out;
}

} // namespace ssmc::ref

#endif // SSMC_REFERENCE_H
