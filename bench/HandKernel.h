//===- HandKernel.h - hand-vectorised AVX-512 selective scan ----*- C++ -*-===//
//
// The "best hand-written kernel" baseline of bench/RESULTS.md: AVX-512
// intrinsics, 16 channels per register with the N = 16 states in registers,
// B and C transposed to [B, L, N] once per call, u/delta/z/out moved as
// 16x16 tiles transposed in registers, exp as a short exp2 (range reduction,
// degree-5 polynomial, vscalefps), OpenMP over (batch, channel block).
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

/// ln(y) for y > 0: exponent and mantissa in [1, 2), log2(m) by a
/// polynomial in (m - 1)/(m + 1).
inline __m512 log(__m512 y) {
  __m512 e = _mm512_getexp_ps(y);
  __m512 m = _mm512_getmant_ps(y, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
  __m512 s = _mm512_div_ps(_mm512_sub_ps(m, _mm512_set1_ps(1)),
                           _mm512_add_ps(m, _mm512_set1_ps(1)));
  __m512 s2 = _mm512_mul_ps(s, s);
  // 2 atanh(s) = ln(m): s (2 + 2/3 s^2 + 2/5 s^4 + 2/7 s^6 + 2/9 s^8)
  __m512 q = _mm512_set1_ps(2.0f / 9);
  q = _mm512_fmadd_ps(q, s2, _mm512_set1_ps(2.0f / 7));
  q = _mm512_fmadd_ps(q, s2, _mm512_set1_ps(2.0f / 5));
  q = _mm512_fmadd_ps(q, s2, _mm512_set1_ps(2.0f / 3));
  q = _mm512_fmadd_ps(q, s2, _mm512_set1_ps(2.0f));
  return _mm512_fmadd_ps(e, _mm512_set1_ps(0.6931471805599453f),
                         _mm512_mul_ps(q, s));
}

inline __m512 softplus(__m512 x) {
  __m512 ex = exp(x);
  __m512 l = log(_mm512_add_ps(_mm512_set1_ps(1), ex));
  // log1p(e) ~ e for tiny e, where 1 + e rounds to 1.
  __mmask16 tiny = _mm512_cmp_ps_mask(ex, _mm512_set1_ps(1e-4f), _CMP_LT_OQ);
  l = _mm512_mask_mov_ps(l, tiny, ex);
  __mmask16 big = _mm512_cmp_ps_mask(x, _mm512_set1_ps(20), _CMP_GT_OQ);
  return _mm512_mask_mov_ps(l, big, x);
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
      const __m512 dv = _mm512_loadu_ps(D + d0);
      const __m512 bv = _mm512_loadu_ps(bias + d0);
      const float *bt = scratch.Bt.data() + b * L * N;
      const float *ct = scratch.Ct.data() + b * L * N;
      for (int64_t t0 = 0; t0 < L; t0 += 16) {
        __m512 ut[16], dt[16], zt[16], yt[16];
        for (int i = 0; i < 16; ++i) {
          const int64_t row = ((b * Dm) + d0 + i) * L + t0;
          ut[i] = _mm512_loadu_ps(u + row);
          dt[i] = _mm512_loadu_ps(delta + row);
          zt[i] = _mm512_loadu_ps(z + row);
          _mm_prefetch(reinterpret_cast<const char *>(u + row + 64), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char *>(delta + row + 64), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char *>(z + row + 64), _MM_HINT_T0);
        }
        hand::transpose16(ut);
        hand::transpose16(dt);
        hand::transpose16(zt);
        for (int k = 0; k < 16; ++k) {
          const float *bk = bt + (t0 + k) * N, *ck = ct + (t0 + k) * N;
          __m512 d = hand::softplus(_mm512_add_ps(dt[k], bv));
          __m512 du = _mm512_mul_ps(d, ut[k]);
          __m512 y = _mm512_setzero_ps();
          for (int n = 0; n < N; ++n) {
            __m512 dA = hand::exp2(_mm512_mul_ps(d, a2[n]));
            h[n] = _mm512_fmadd_ps(dA, h[n],
                                   _mm512_mul_ps(du, _mm512_set1_ps(bk[n])));
            y = _mm512_fmadd_ps(_mm512_set1_ps(ck[n]), h[n], y);
          }
          y = _mm512_fmadd_ps(dv, ut[k], y);
          __m512 g = _mm512_div_ps(
              zt[k], _mm512_add_ps(_mm512_set1_ps(1),
                                   hand::exp(_mm512_sub_ps(_mm512_setzero_ps(), zt[k]))));
          yt[k] = _mm512_mul_ps(y, g);
        }
        hand::transpose16(yt);
        for (int i = 0; i < 16; ++i)
          _mm512_storeu_ps(out + ((b * Dm) + d0 + i) * L + t0, yt[i]);
      }
    }
}

} // namespace ssmc::bench

#endif // SSMC_BENCH_HANDKERNEL_H
