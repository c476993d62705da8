//===- HandKernel.h - hand-vectorised AVX-512 selective scan ----*- C++ -*-===//
//
// The "best hand-written kernel" baseline of bench/RESULTS.md: AVX-512
// intrinsics, 16 channels per register with the N = 16 states in registers,
// B and C transposed to [B, L, N] once per call; per tile of 16 steps,
// softplus and dt*u on the channel rows, transposed in registers to
// per-step vectors, the recurrence as a loop over the steps (not unrolled),
// the outputs transposed back and the D skip and z gate applied to the
// rows; the next tile prefetched; exp as a short exp2 (range reduction,
// degree-5 polynomial, vscalefps); OpenMP over (batch, channel block). The
// same structure as ssmc's lowering (docs/lowering.md), so the comparison
// is of code generation, not of algorithm.
// Same semantics as ssmc::ref::selectiveScan with bias, softplus, D and z.
// Requires N == 16, Dm % 16 == 0, L % 16 == 0 (the benchmark shapes).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_BENCH_HANDKERNEL_H
#define SSMC_BENCH_HANDKERNEL_H

#include "PlainKernels.h"

#include <immintrin.h>

#include <cmath>
#include <vector>

namespace ssmc::bench {

namespace hand {

inline __m512 exp2(__m512 x) {
  __m512 k = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_sub_ps(x, k);
  __m512 p = _mm512_set1_ps(0.0013218672247603536f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.009671698324382305f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.05550893023610115f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.24022237956523895f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.6931468844413757f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, k);
}

inline __m512 exp(__m512 x) {
  return exp2(_mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634f)));
}

/// softplus(x) = max(x, 0) + log1p(e), e = exp(-|x|) in (0, 1], with
/// log1p(e) = e g(e), g a degree-8 polynomial (relative error < 4e-8; no
/// division, no cancellation for tiny e, no overflow for large x).
inline __m512 softplus(__m512 x) {
  __m512 ax = _mm512_andnot_ps(_mm512_set1_ps(-0.0f), x);
  __m512 e = exp(_mm512_sub_ps(_mm512_setzero_ps(), ax));
  static const float g[] = {0.9999999659255097f,  -0.49999444976340807f,
                            0.333181217075448f,   -0.24835398988585736f,
                            0.19076880735962676f, -0.13602247622848157f,
                            0.07751608674395996f, -0.029074064679343068f,
                            0.00512610214135673f};
  __m512 q = _mm512_set1_ps(g[8]);
  for (int k = 7; k >= 0; --k)
    q = _mm512_fmadd_ps(q, e, _mm512_set1_ps(g[k]));
  return _mm512_fmadd_ps(q, e, _mm512_max_ps(x, _mm512_setzero_ps()));
}

/// In-register 16x16 transpose: four butterfly stages of vpermt2ps.
inline void transpose16(__m512 r[16]) {
  for (int h = 8; h >= 1; h /= 2) {
    alignas(64) int lo[16], hi[16];
    for (int j = 0; j < 16; ++j) {
      lo[j] = (j & h) ? 16 + (j - h) : j;
      hi[j] = (j & h) ? 16 + j : j + h;
    }
    __m512i ilo = _mm512_load_si512(lo), ihi = _mm512_load_si512(hi);
    for (int i = 0; i < 16; ++i) {
      if (i & h)
        continue;
      __m512 a = r[i], b = r[i + h];
      r[i] = _mm512_permutex2var_ps(a, ilo, b);
      r[i + h] = _mm512_permutex2var_ps(a, ihi, b);
    }
  }
}

} // namespace hand

/// Scratch the kernel needs: B and C transposed to [B, L, N].
struct HandScratch {
  std::vector<float> Bt, Ct;
};

inline void handSelectiveScan(const ScanShape &s, const float *u,
                              const float *delta, const float *A,
                              const float *Bm, const float *Cm, const float *D,
                              const float *z, const float *bias, float *out,
                              HandScratch &scratch) {
  const int64_t Bt = s.batch, Dm = s.channels, L = s.len;
  constexpr int64_t N = 16;
  scratch.Bt.resize(Bt * L * N);
  scratch.Ct.resize(Bt * L * N);
#pragma omp parallel for collapse(2)
  for (int64_t b = 0; b < Bt; ++b)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t n = 0; n < N; ++n) {
        scratch.Bt[(b * L + t) * N + n] = Bm[(b * N + n) * L + t];
        scratch.Ct[(b * L + t) * N + n] = Cm[(b * N + n) * L + t];
      }
  const int64_t blocks = Dm / 16;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < Bt; ++b)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t d0 = blk * 16;
      __m512 a2[N], h[N];
      for (int64_t n = 0; n < N; ++n) {
        __m512i idx = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(N));
        a2[n] = _mm512_mul_ps(_mm512_i32gather_ps(idx, A + d0 * N + n, 4),
                              _mm512_set1_ps(1.4426950408889634f));
        h[n] = _mm512_setzero_ps();
      }
      const float *bt = scratch.Bt.data() + b * L * N;
      const float *ct = scratch.Ct.data() + b * L * N;
      alignas(64) float dtRows[16][16], duRows[16][16], yRows[16][16];
      for (int64_t t0 = 0; t0 < L; t0 += 16) {
        // dt (bias, softplus) and dt*u on the channel rows as they lie,
        // then transposed to per-step vectors.
        __m512 dt[16], du[16];
        for (int i = 0; i < 16; ++i) {
          const int64_t row = ((b * Dm) + d0 + i) * L + t0;
          __m512 ur = _mm512_loadu_ps(u + row);
          dt[i] = hand::softplus(_mm512_add_ps(_mm512_loadu_ps(delta + row),
                                               _mm512_set1_ps(bias[d0 + i])));
          du[i] = _mm512_mul_ps(dt[i], ur);
          _mm_prefetch(reinterpret_cast<const char *>(u + row + 16), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char *>(delta + row + 16), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char *>(z + row + 16), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char *>(out + row + 16), _MM_HINT_T0);
        }
        hand::transpose16(dt);
        hand::transpose16(du);
        for (int k = 0; k < 16; ++k) {
          _mm512_store_ps(dtRows[k], dt[k]);
          _mm512_store_ps(duRows[k], du[k]);
        }
        // The recurrence, one step per iteration (not unrolled: an unrolled
        // tile overflows the instruction caches), four partial read-outs.
#pragma clang loop unroll(disable)
        for (int k = 0; k < 16; ++k) {
          const float *bk = bt + (t0 + k) * N, *ck = ct + (t0 + k) * N;
          __m512 d = _mm512_load_ps(dtRows[k]);
          __m512 dU = _mm512_load_ps(duRows[k]);
          __m512 y[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(),
                         _mm512_setzero_ps(), _mm512_setzero_ps()};
          for (int n = 0; n < N; ++n) {
            __m512 dA = hand::exp2(_mm512_mul_ps(d, a2[n]));
            h[n] = _mm512_fmadd_ps(dA, h[n],
                                   _mm512_mul_ps(dU, _mm512_set1_ps(bk[n])));
            y[n % 4] = _mm512_fmadd_ps(_mm512_set1_ps(ck[n]), h[n], y[n % 4]);
          }
          _mm512_store_ps(yRows[k], _mm512_add_ps(_mm512_add_ps(y[0], y[1]),
                                                  _mm512_add_ps(y[2], y[3])));
        }
        // Back to channel rows; D skip and z gate on the rows.
        __m512 yt[16];
        for (int k = 0; k < 16; ++k)
          yt[k] = _mm512_load_ps(yRows[k]);
        hand::transpose16(yt);
        for (int i = 0; i < 16; ++i) {
          const int64_t row = ((b * Dm) + d0 + i) * L + t0;
          __m512 zr = _mm512_loadu_ps(z + row);
          __m512 y = _mm512_fmadd_ps(_mm512_set1_ps(D[d0 + i]),
                                     _mm512_loadu_ps(u + row), yt[i]);
          __m512 g = _mm512_div_ps(
              zr, _mm512_add_ps(_mm512_set1_ps(1),
                                hand::exp(_mm512_sub_ps(_mm512_setzero_ps(), zr))));
          _mm512_storeu_ps(out + row, _mm512_mul_ps(y, g));
        }
      }
    }
}

} // namespace ssmc::bench

#endif // SSMC_BENCH_HANDKERNEL_H
