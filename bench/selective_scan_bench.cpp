//===- selective_scan_bench.cpp - ssmc selective_scan vs baselines --------===//
//
// Google Benchmark suite at the Mamba shapes of DESIGN.md, f32, with bias,
// softplus, D skip and z gate. Each benchmark reports elements/s (B*D*L per
// second); ratios between rows of one run are what bench/RESULTS.md records.
//
//   build/bin/ssmc-bench-selective-scan --benchmark_min_time=1s
//
//===----------------------------------------------------------------------===//

#include "HandKernel.h"
#include "PlainKernels.h"

#include "ssmc/Jit.h"

#include "llvm/Support/raw_ostream.h"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <omp.h>
#include <map>
#include <random>
#include <string>
#include <sys/resource.h>

using namespace ssmc;

namespace {

const bench::ScanShape kShapes[] = {
    {1, 1536, 16, 2048}, {1, 5120, 16, 2048}, {8, 1536, 16, 512}};

struct Inputs {
  explicit Inputs(const bench::ScanShape &s)
      : u(DType::F32, {s.batch, s.channels, s.len}),
        delta(DType::F32, {s.batch, s.channels, s.len}),
        A(DType::F32, {s.channels, s.state}),
        B(DType::F32, {s.batch, s.state, s.len}),
        C(DType::F32, {s.batch, s.state, s.len}), D(DType::F32, {s.channels}),
        z(DType::F32, {s.batch, s.channels, s.len}),
        bias(DType::F32, {s.channels}),
        out(DType::F32, {s.batch, s.channels, s.len}) {
    std::mt19937 rng(0);
    auto fill = [&](OwnedTensor &t, float lo, float hi) {
      std::uniform_real_distribution<float> d(lo, hi);
      for (int64_t i = 0; i < t.numel(); ++i)
        t.as<float>()[i] = d(rng);
    };
    fill(u, -1, 1), fill(delta, -3, 1), fill(A, -4, -0.1f), fill(B, -1, 1);
    fill(C, -1, 1), fill(D, -1, 1), fill(z, -3, 3), fill(bias, -1, 0.5f);
  }
  OwnedTensor u, delta, A, B, C, D, z, bias, out;
};

/// The benchmarked program; `softplus` = false drops delta_bias and
/// delta_softplus (delta is then dt itself), `gate` = false drops D and z:
/// without both, the recurrence alone.
std::string program(const bench::ScanShape &s, bool softplus = true,
                    bool gate = true) {
  auto t = [](std::initializer_list<int64_t> dims) {
    std::string r = "tensor<";
    for (int64_t d : dims)
      r += std::to_string(d) + "x";
    return r + "f32>";
  };
  std::string act = t({s.batch, s.channels, s.len});
  std::string a = t({s.channels, s.state}), bc = t({s.batch, s.state, s.len});
  std::string vec = t({s.channels});
  std::string args = "%u: " + act + ", %dt: " + act + ", %A: " + a +
                     ", %B: " + bc + ", %C: " + bc;
  std::string types = act + ", " + act + ", " + a + ", " + bc + ", " + bc;
  std::string opts;
  if (gate) {
    args += ", %D: " + vec + ", %z: " + act;
    types += ", " + vec + ", " + act;
    opts += " D(%D) z(%z)";
  }
  if (softplus) {
    args += ", %bias: " + vec;
    types += ", " + vec;
    opts += " delta_bias(%bias) delta_softplus";
  }
  return "func.func @main(" + args + ") -> " + act + " {\n" +
         "  %y = ssm.selective_scan %u, %dt, %A, %B, %C" + opts + " : (" +
         types + ") -> " + act + "\n  return %y : " + act + "\n}\n";
}

/// Minor page faults of this process so far.
long minorFaults() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

void setCounters(benchmark::State &state, const bench::ScanShape &s) {
  state.SetItemsProcessed(state.iterations() * s.batch * s.channels * s.len);
  state.counters["B"] = s.batch;
  state.counters["D"] = s.channels;
  state.counters["N"] = s.state;
  state.counters["L"] = s.len;
}

void BM_PlainLoop(benchmark::State &state) {
  const bench::ScanShape &s = kShapes[state.range(0)];
  Inputs in(s);
  for (auto _ : state) {
    bench::plainSelectiveScan(s, in.u.as<float>(), in.delta.as<float>(),
                              in.A.as<float>(), in.B.as<float>(),
                              in.C.as<float>(), in.D.as<float>(),
                              in.z.as<float>(), in.bias.as<float>(),
                              in.out.as<float>());
    benchmark::ClobberMemory();
  }
  setCounters(state, s);
}

/// Max |a - b| / max(1, max |b|) over the output, to show a baseline
/// computes the same thing.
double relativeError(const OwnedTensor &a, const std::vector<float> &b) {
  double err = 0, scale = 1;
  for (int64_t i = 0; i < a.numel(); ++i) {
    err = std::max(err, double(std::fabs(a.as<float>()[i] - b[i])));
    scale = std::max(scale, double(std::fabs(b[i])));
  }
  return err / scale;
}

std::vector<float> plainResult(const bench::ScanShape &s, Inputs &in) {
  std::vector<float> ref(in.out.numel());
  bench::plainSelectiveScan(s, in.u.as<float>(), in.delta.as<float>(),
                            in.A.as<float>(), in.B.as<float>(),
                            in.C.as<float>(), in.D.as<float>(),
                            in.z.as<float>(), in.bias.as<float>(), ref.data());
  return ref;
}

void BM_HandAVX512(benchmark::State &state) {
  const bench::ScanShape &s = kShapes[state.range(0)];
  omp_set_num_threads(static_cast<int>(state.range(1)));
  Inputs in(s);
  bench::HandScratch scratch;
  auto run = [&] {
    bench::handSelectiveScan(s, in.u.as<float>(), in.delta.as<float>(),
                             in.A.as<float>(), in.B.as<float>(),
                             in.C.as<float>(), in.D.as<float>(),
                             in.z.as<float>(), in.bias.as<float>(),
                             in.out.as<float>(), scratch);
  };
  run();
  state.counters["rel_err_vs_plain"] = relativeError(in.out, plainResult(s, in));
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  setCounters(state, s);
  state.counters["threads"] = state.range(1);
}

void BM_SSMC(benchmark::State &state) {
  const bench::ScanShape &s = kShapes[state.range(0)];
  JitOptions options;
  options.threads = static_cast<unsigned>(state.range(1));
  auto t0 = std::chrono::steady_clock::now();
  auto jit = Jit::compile(program(s), options);
  auto t1 = std::chrono::steady_clock::now();
  if (!jit) {
    state.SkipWithError(llvm::toString(jit.takeError()).c_str());
    return;
  }
  Inputs in(s);
  std::vector<Tensor> args = {in.u.view(), in.delta.view(), in.A.view(),
                              in.B.view(), in.C.view(),     in.D.view(),
                              in.z.view(), in.bias.view()};
  Tensor out = in.out.view();
  if (llvm::Error e = (*jit)->invoke("main", args, {out})) { // warm-up
    state.SkipWithError(llvm::toString(std::move(e)).c_str());
    return;
  }
  state.counters["rel_err_vs_plain"] = relativeError(in.out, plainResult(s, in));
  long faults0 = minorFaults();
  for (auto _ : state) {
    llvm::Error e = (*jit)->invoke("main", args, {out});
    if (e) {
      state.SkipWithError(llvm::toString(std::move(e)).c_str());
      return;
    }
    benchmark::ClobberMemory();
  }
  state.counters["faults_per_call"] = double(minorFaults() - faults0) /
                                      std::max<int64_t>(1, state.iterations());
  setCounters(state, s);
  state.counters["threads"] = options.threads;
  state.counters["compile_ms"] =
      std::chrono::duration<double, std::milli>(t1 - t0).count();
}

/// BM_SSMC through Jit::run, the path of ssmc-run and of callers that let
/// the JIT allocate results: each call returns an owned result tensor that
/// the caller drops before the next call. Counters: run_over_invoke, the
/// run path's time over invoke's (into a caller-owned output) measured in
/// the same iterations, meant to stay within 1.10 at every shape; and the
/// minor page faults per run call (results are handed over, not copied,
/// and come back from the allocator's cache with their pages mapped).
void BM_SSMCRun(benchmark::State &state) {
  const bench::ScanShape &s = kShapes[state.range(0)];
  JitOptions options;
  options.threads = static_cast<unsigned>(state.range(1));
  auto jit = Jit::compile(program(s), options);
  if (!jit) {
    state.SkipWithError(llvm::toString(jit.takeError()).c_str());
    return;
  }
  Inputs in(s);
  std::vector<Tensor> args = {in.u.view(), in.delta.view(), in.A.view(),
                              in.B.view(), in.C.view(),     in.D.view(),
                              in.z.view(), in.bias.view()};
  {
    auto warm = (*jit)->run("main", args);
    if (!warm) {
      state.SkipWithError(llvm::toString(warm.takeError()).c_str());
      return;
    }
    std::memcpy(in.out.data(), (*warm)[0].data(), in.out.sizeInBytes());
    state.counters["rel_err_vs_plain"] =
        relativeError(in.out, plainResult(s, in));
  }
  // Each iteration times one run call and, alternately before or after
  // it, one invoke call into a caller-owned output: their ratio is taken
  // under the same machine load (the shared machine's load drifts between
  // benchmark rows). The iteration time reported is the run call's.
  using Clock = std::chrono::steady_clock;
  double runS = 0, invokeS = 0;
  long faults = 0;
  int64_t n = 0;
  Tensor out = in.out.view();
  for (auto _ : state) {
    auto t0 = Clock::now();
    if (n % 2)
      if (llvm::Error e = (*jit)->invoke("main", args, {out})) {
        state.SkipWithError(llvm::toString(std::move(e)).c_str());
        return;
      }
    auto t1 = Clock::now();
    long f0 = minorFaults();
    auto r = (*jit)->run("main", args);
    if (!r) {
      state.SkipWithError(llvm::toString(r.takeError()).c_str());
      return;
    }
    benchmark::DoNotOptimize((*r)[0].data());
    r->clear();
    faults += minorFaults() - f0;
    auto t2 = Clock::now();
    if (n % 2 == 0)
      if (llvm::Error e = (*jit)->invoke("main", args, {out})) {
        state.SkipWithError(llvm::toString(std::move(e)).c_str());
        return;
      }
    auto t3 = Clock::now();
    double runT = std::chrono::duration<double>(t2 - t1).count();
    runS += runT;
    invokeS += std::chrono::duration<double>((t1 - t0) + (t3 - t2)).count();
    state.SetIterationTime(runT);
    ++n;
  }
  state.counters["faults_per_call"] = double(faults) / std::max<int64_t>(1, n);
  state.counters["run_over_invoke"] = invokeS > 0 ? runS / invokeS : 0;
  setCounters(state, s);
  state.counters["threads"] = options.threads;
}

/// What the parts of the op cost (shape 0): args {threads, variant},
/// variant 0 the full op, 1 without softplus and bias (delta holds the
/// same dt values, precomputed), 2 also without D and z (the recurrence
/// alone). Timing only: the variants compute different things.
void BM_SSMCParts(benchmark::State &state) {
  const bench::ScanShape &s = kShapes[0];
  const int64_t variant = state.range(1);
  JitOptions options;
  options.threads = static_cast<unsigned>(state.range(0));
  auto jit = Jit::compile(program(s, variant == 0, variant < 2), options);
  if (!jit) {
    state.SkipWithError(llvm::toString(jit.takeError()).c_str());
    return;
  }
  Inputs in(s);
  if (variant > 0)
    for (int64_t i = 0; i < in.delta.numel(); ++i) {
      float x = in.delta.as<float>()[i] +
                in.bias.as<float>()[(i / s.len) % s.channels];
      in.delta.as<float>()[i] = x > 20 ? x : std::log1p(std::exp(x));
    }
  std::vector<Tensor> args = {in.u.view(), in.delta.view(), in.A.view(),
                              in.B.view(), in.C.view()};
  if (variant < 2)
    args.insert(args.end(), {in.D.view(), in.z.view()});
  if (variant == 0)
    args.push_back(in.bias.view());
  Tensor out = in.out.view();
  for (auto _ : state) {
    if (llvm::Error e = (*jit)->invoke("main", args, {out})) {
      state.SkipWithError(llvm::toString(std::move(e)).c_str());
      return;
    }
    benchmark::ClobberMemory();
  }
  setCounters(state, s);
  state.counters["threads"] = options.threads;
  state.counters["variant"] = variant;
}

} // namespace

BENCHMARK(BM_PlainLoop)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_HandAVX512)
    ->Args({0, 1})->Args({0, 2})->Args({1, 1})->Args({1, 2})->Args({2, 1})->Args({2, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SSMC)
    ->Args({0, 1})->Args({0, 2})->Args({1, 1})->Args({1, 2})->Args({2, 1})->Args({2, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK(BM_SSMCRun)
    ->Args({0, 1})->Args({0, 2})->Args({1, 1})->Args({1, 2})->Args({2, 1})->Args({2, 2})
    ->Unit(benchmark::kMillisecond)->UseManualTime();

BENCHMARK(BM_SSMCParts)
    ->Args({1, 0})->Args({1, 1})->Args({1, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
