//===- roofline_bench.cpp - this machine's limits, measured ---------------===//
//
// The ceilings the ssmc kernels are judged against, measured on the machine
// that runs them (bench/RESULTS.md turns them into a selective-scan roof):
//   StreamTriad   a = b + s c over arrays far larger than the caches (GB/s)
//   FMAPeak       16 independent AVX-512 FMA chains (GFLOP/s)
//   Exp2          the short exp2 ssmc generates (range reduction, degree-5
//                 polynomial, vscalefps) over an L1-resident buffer (G exp/s)
// Each runs on 1 and 2 OpenMP threads.
//
//   build/bin/ssmc-bench-roofline --benchmark_min_time=1
//
//===----------------------------------------------------------------------===//

#include "HandKernel.h"

#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <vector>

namespace {

void BM_StreamTriad(benchmark::State &state) {
  const int threads = static_cast<int>(state.range(0));
  const size_t n = size_t(1) << 24; // 3 x 64 MiB
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  for (auto _ : state) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; ++i)
      a[i] = b[i] + 3.0f * c[i];
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 3 * n * sizeof(float));
  state.counters["threads"] = threads;
}

void BM_FMAPeak(benchmark::State &state) {
  const int threads = static_cast<int>(state.range(0));
  const int64_t iters = 1 << 22;
  for (auto _ : state) {
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
      __m512 acc[16];
      for (int i = 0; i < 16; ++i)
        acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
      const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
      for (int64_t k = 0; k < iters; ++k)
        for (int i = 0; i < 16; ++i)
          acc[i] = _mm512_fmadd_ps(acc[i], m, a);
      __m512 s = acc[0];
      for (int i = 1; i < 16; ++i)
        s = _mm512_add_ps(s, acc[i]);
      sink += _mm512_reduce_add_ps(s);
    }
    benchmark::DoNotOptimize(sink);
  }
  // 16 chains x 16 lanes x 2 flops per FMA, per thread.
  state.counters["GFLOP/s"] = benchmark::Counter(
      double(iters) * 16 * 16 * 2 * threads, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = threads;
}

void BM_Exp2(benchmark::State &state) {
  const int threads = static_cast<int>(state.range(0));
  const int64_t iters = 1 << 16;
  for (auto _ : state) {
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
      alignas(64) float buf[1024];
      for (int i = 0; i < 1024; ++i)
        buf[i] = -float(i % 97) * 0.05f;
      __m512 acc = _mm512_setzero_ps();
      for (int64_t k = 0; k < iters; ++k)
        for (int i = 0; i < 1024; i += 16)
          acc = _mm512_add_ps(acc, ssmc::bench::hand::exp2(_mm512_load_ps(buf + i)));
      sink += _mm512_reduce_add_ps(acc);
    }
    benchmark::DoNotOptimize(sink);
  }
  state.counters["Gexp/s"] = benchmark::Counter(
      double(iters) * 1024 * threads, benchmark::Counter::kIsIterationInvariantRate,
      benchmark::Counter::kIs1000);
  state.counters["threads"] = threads;
}

} // namespace

BENCHMARK(BM_StreamTriad)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_FMAPeak)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Exp2)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
