//===- PlainKernels.h - baselines the benchmarks compare against -*- C++ -*-===//
//
// A plain scalar float implementation of the Mamba-1 selective scan, as a
// C++ programmer would write it first (compiled -O3 -march=native): the
// "plain loop" baseline of bench/RESULTS.md. Same semantics as
// ssmc::ref::selectiveScan, in f32.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_BENCH_PLAINKERNELS_H
#define SSMC_BENCH_PLAINKERNELS_H

#include <cmath>
#include <cstdint>
#include <vector>

namespace ssmc::bench {

struct ScanShape {
  int64_t batch, channels, state, len;
};

/// out, u, delta, z: [B, D, L]; A: [D, N]; Bm, Cm: [B, N, L]; D, bias: [D].
inline void plainSelectiveScan(const ScanShape &s, const float *u,
                               const float *delta, const float *A,
                               const float *Bm, const float *Cm,
                               const float *D, const float *z,
                               const float *bias, float *out) {
  const int64_t Dm = s.channels, N = s.state, L = s.len;
  std::vector<float> h(N);
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t d = 0; d < Dm; ++d) {
      std::fill(h.begin(), h.end(), 0.0f);
      const int64_t row = (b * Dm + d) * L;
      for (int64_t t = 0; t < L; ++t) {
        float dt = delta[row + t] + bias[d];
        dt = dt > 20.0f ? dt : std::log1p(std::exp(dt));
        const float x = u[row + t];
        float y = 0;
        for (int64_t n = 0; n < N; ++n) {
          h[n] = std::exp(dt * A[d * N + n]) * h[n] +
                 dt * Bm[(b * N + n) * L + t] * x;
          y += Cm[(b * N + n) * L + t] * h[n];
        }
        y += D[d] * x;
        const float zt = z[row + t];
        out[row + t] = y * zt / (1.0f + std::exp(-zt));
      }
    }
}

} // namespace ssmc::bench

#endif // SSMC_BENCH_PLAINKERNELS_H
