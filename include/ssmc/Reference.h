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

#include <cassert>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace ssmc::ref {

inline double softplus(double x) {
  // log(1 + e^x) without overflow for large x.
  return x > 20.0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

inline double silu(double x) { return x / (1.0 + std::exp(-x)); }

/// Inputs of ssm.selective_scan in its layouts (row-major): u, delta, z
/// [B, Dm, L]; A [Dm, N]; B, C [B, N, L] when their group count is 0, or
/// [B, G, N, L] with G dividing Dm; D, deltaBias [Dm]; h0 [B, Dm, N]. Empty
/// optional vectors mean the operand is absent.
struct SelectiveScanProblem {
  int64_t batch = 1, channels = 1, seqLen = 1, stateSize = 1;
  int64_t groupsB = 0, groupsC = 0; ///< 0: [B, N, L]; G > 0: [B, G, N, L]
  bool deltaSoftplus = false;
  std::vector<double> u, delta, A, B, C;
  std::vector<double> D, z, deltaBias, h0;
};

struct SelectiveScanResult {
  std::vector<double> out;        ///< [B, Dm, L]
  std::vector<double> finalState; ///< [B, Dm, N]
};

/// Index of B[b, g, n, t] / C[b, g, n, t] for channel d.
inline int64_t bcIndex(const SelectiveScanProblem &p, int64_t groups,
                       int64_t b, int64_t d, int64_t n, int64_t t) {
  const int64_t N = p.stateSize, L = p.seqLen;
  if (groups == 0)
    return (b * N + n) * L + t;
  const int64_t g = d / (p.channels / groups);
  return ((b * groups + g) * N + n) * L + t;
}

inline SelectiveScanResult selectiveScan(const SelectiveScanProblem &p) {
  const int64_t Bt = p.batch, Dm = p.channels, L = p.seqLen, N = p.stateSize;
  SelectiveScanResult r;
  r.out.assign(Bt * Dm * L, 0.0);
  r.finalState.assign(Bt * Dm * N, 0.0);
  for (int64_t b = 0; b < Bt; ++b) {
    for (int64_t d = 0; d < Dm; ++d) {
      std::vector<double> h(N, 0.0);
      if (!p.h0.empty())
        for (int64_t n = 0; n < N; ++n)
          h[n] = p.h0[(b * Dm + d) * N + n];
      for (int64_t t = 0; t < L; ++t) {
        const int64_t i = (b * Dm + d) * L + t;
        double dt = p.delta[i];
        if (!p.deltaBias.empty())
          dt += p.deltaBias[d];
        if (p.deltaSoftplus)
          dt = softplus(dt);
        double y = 0.0;
        for (int64_t n = 0; n < N; ++n) {
          const double a = p.A[d * N + n];
          const double bv = p.B[bcIndex(p, p.groupsB, b, d, n, t)];
          const double cv = p.C[bcIndex(p, p.groupsC, b, d, n, t)];
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
        r.finalState[(b * Dm + d) * N + n] = h[n];
    }
  }
  return r;
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
