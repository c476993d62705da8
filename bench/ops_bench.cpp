//===- ops_bench.cpp - ssd, linear attention, attention and decode steps --===//
//
// Google Benchmark suite for the ops other than selective_scan (which has
// its own suite with a hand-vectorised baseline), f32, at the shapes of the
// performance issue:
//
//   ssd / linear attention  (B, H, L, K, V) = (1, 12, 2048, 64, 64), (4, 32, 4096, 64, 128)
//   gated delta rule        (B, T, H, K, V) = (1, 4096, 16, 128, 128), recurrent
//                           and the lowering's choice
//   attention               (1, 12, 2048, 64) causal, and with window 256
//   decode steps            selective_scan_step (1536 x 16), ssd_step
//                           (24 heads x 64 x 128), linear_attention_step
//                           (12 x 64 x 64), attention_step at a cache of
//                           1k, 16k and 128k tokens (12 heads of 64)
//
// Each sequence op runs compiled by ssmc (1 and 2 threads) and as a plain
// scalar float loop (one thread, -O3 -march=native) in the same run; outputs
// are compared (rel_err_vs_plain). Counters: GFLOP/s (matmul-equivalent
// flops of the recurrence or of attention), GB/s (operands read and results
// written once), items/s (tokens x heads). Decode steps update their state in
// place (lent buffers, as the model decoder does). ssmc-run/ rows run the
// same compiled program through Jit::run (results allocated by the JIT and
// handed over) and report run_over_invoke, its time over invoke's measured
// in the same iterations.
//
//   build/bin/ssmc-bench-ops --benchmark_min_time=1
//
//===----------------------------------------------------------------------===//

#include "ssmc/Jit.h"

#include "llvm/Support/raw_ostream.h"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <sys/resource.h>
#include <vector>

using namespace ssmc;

namespace {

std::string ty(std::initializer_list<int64_t> dims) {
  std::string r = "tensor<";
  for (int64_t d : dims)
    r += std::to_string(d) + "x";
  return r + "f32>";
}

void fill(OwnedTensor &t, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.as<float>()[i] = d(rng);
}

double relError(const OwnedTensor &got, const OwnedTensor &want) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    num = std::max(num, double(std::fabs(got.as<float>()[i] - want.as<float>()[i])));
    den = std::max(den, double(std::fabs(want.as<float>()[i])));
  }
  return den > 0 ? num / den : num;
}

/// One benchmark case: a program with its inputs, its output shapes, the
/// plain loop, and the work of one call.
struct Case {
  std::string name, program;
  std::vector<OwnedTensor> inputs;
  std::vector<std::vector<int64_t>> outShapes;
  /// Plain scalar loop writing output 0 (null: no baseline).
  std::function<void(const std::vector<OwnedTensor> &, OwnedTensor &)> plain;
  double flops = 0, bytes = 0, items = 0;
  /// Outputs alias these inputs (decode steps: the state updated in place).
  std::map<size_t, size_t> inPlace; // output index -> input index
};

std::map<std::string, std::unique_ptr<Jit>> &jits() {
  static std::map<std::string, std::unique_ptr<Jit>> m;
  return m;
}

Jit *compiled(const Case &c, unsigned threads, double *compileMs) {
  std::string key = c.name + "/" + std::to_string(threads);
  auto &slot = jits()[key];
  if (!slot) {
    JitOptions o;
    o.threads = threads;
    auto t0 = std::chrono::steady_clock::now();
    auto jit = Jit::compile(c.program, o, c.name);
    if (!jit) {
      llvm::errs() << c.name << ": " << llvm::toString(jit.takeError()) << "\n";
      return nullptr;
    }
    *compileMs = std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - t0)
                     .count();
    slot = std::move(*jit);
  }
  return slot.get();
}

void setCounters(benchmark::State &state, const Case &c) {
  double n = double(state.iterations());
  state.counters["GFLOP/s"] =
      benchmark::Counter(c.flops * n / 1e9, benchmark::Counter::kIsRate);
  state.counters["GB/s"] =
      benchmark::Counter(c.bytes * n / 1e9, benchmark::Counter::kIsRate);
  state.SetItemsProcessed(int64_t(c.items * n));
}

void runSSMC(benchmark::State &state, const Case *c, unsigned threads) {
  double compileMs = 0;
  Jit *jit = compiled(*c, threads, &compileMs);
  if (!jit) {
    state.SkipWithError("compile failed");
    return;
  }
  std::vector<Tensor> in;
  for (const OwnedTensor &t : c->inputs)
    in.push_back(const_cast<OwnedTensor &>(t).view());
  std::vector<OwnedTensor> outs;
  std::vector<Tensor> out;
  for (size_t i = 0; i < c->outShapes.size(); ++i) {
    if (auto it = c->inPlace.find(i); it != c->inPlace.end()) {
      out.push_back(in[it->second]);
      continue;
    }
    outs.emplace_back(DType::F32, c->outShapes[i]);
    out.push_back(outs.back().view());
  }
  for (auto _ : state)
    if (llvm::Error e = jit->invoke("main", in, out)) {
      state.SkipWithError(llvm::toString(std::move(e)).c_str());
      return;
    }
  setCounters(state, *c);
  state.counters["threads"] = threads;
  if (compileMs > 0)
    state.counters["compile_ms"] = compileMs;
  if (c->plain) {
    OwnedTensor want(DType::F32, c->outShapes[0]);
    c->plain(c->inputs, want);
    OwnedTensor got(DType::F32, c->outShapes[0]);
    if (llvm::Error e = jit->invoke("main", in, {got.view()}))
      llvm::consumeError(std::move(e));
    else
      state.counters["rel_err_vs_plain"] = relError(got, want);
  }
}

/// runSSMC through Jit::run, the path of ssmc-run and of callers that let
/// the JIT allocate results: every call returns owned result tensors
/// (decode steps: new state tensors instead of updating in place) that the
/// caller drops before the next call. Each iteration also times one invoke
/// call as runSSMC makes it, alternately before and after the run call, so
/// that run_over_invoke compares the two under the same machine load; it
/// is meant to stay within 1.10. faults_per_call counts the minor page
/// faults of a run call. The iteration time reported is the run call's.
void runSSMCRun(benchmark::State &state, const Case *c, unsigned threads) {
  double compileMs = 0;
  Jit *jit = compiled(*c, threads, &compileMs);
  if (!jit) {
    state.SkipWithError("compile failed");
    return;
  }
  std::vector<Tensor> in;
  for (const OwnedTensor &t : c->inputs)
    in.push_back(const_cast<OwnedTensor &>(t).view());
  std::vector<OwnedTensor> outs;
  std::vector<Tensor> out;
  for (size_t i = 0; i < c->outShapes.size(); ++i) {
    if (auto it = c->inPlace.find(i); it != c->inPlace.end()) {
      out.push_back(in[it->second]);
      continue;
    }
    outs.emplace_back(DType::F32, c->outShapes[i]);
    out.push_back(outs.back().view());
  }
  auto minorFaults = [] {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
  };
  // A first call of each path outside the timing (the code's first run
  // faults in its pages and starts the thread pool).
  if (llvm::Error e = jit->invoke("main", in, out)) {
    state.SkipWithError(llvm::toString(std::move(e)).c_str());
    return;
  }
  if (auto r = jit->run("main", in); !r) {
    state.SkipWithError(llvm::toString(r.takeError()).c_str());
    return;
  }
  using Clock = std::chrono::steady_clock;
  double runS = 0, invokeS = 0;
  long faults = 0;
  int64_t n = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    if (n % 2)
      if (llvm::Error e = jit->invoke("main", in, out)) {
        state.SkipWithError(llvm::toString(std::move(e)).c_str());
        return;
      }
    auto t1 = Clock::now();
    long f0 = minorFaults();
    auto r = jit->run("main", in);
    if (!r) {
      state.SkipWithError(llvm::toString(r.takeError()).c_str());
      return;
    }
    benchmark::DoNotOptimize((*r)[0].data());
    r->clear();
    faults += minorFaults() - f0;
    auto t2 = Clock::now();
    if (n % 2 == 0)
      if (llvm::Error e = jit->invoke("main", in, out)) {
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
  state.counters["faults_per_call"] = double(faults) / std::max<double>(1, n);
  state.counters["run_over_invoke"] = invokeS > 0 ? runS / invokeS : 0;
  setCounters(state, *c);
  state.counters["threads"] = threads;
}

void runPlain(benchmark::State &state, const Case *c) {
  OwnedTensor out(DType::F32, c->outShapes[0]);
  for (auto _ : state) {
    c->plain(c->inputs, out);
    benchmark::DoNotOptimize(out.data());
  }
  setCounters(state, *c);
}

//===----------------------------------------------------------------------===//
// Sequence ops
//===----------------------------------------------------------------------===//

struct Dims {
  int64_t B, H, L, K, V;
};

/// Linear attention with a per-step log gate (RetNet/Mamba-2 style) or, with
/// `keyGate`, a log gate per key row (gated linear attention), scale 1.
Case linearAttention(Dims d, bool keyGate = false) {
  Case c;
  c.name = std::string(keyGate ? "linear_attention_keygate/" : "linear_attention/") +
           std::to_string(d.B) + "x" +
           std::to_string(d.H) + "x" + std::to_string(d.L) + "x" +
           std::to_string(d.K) + "x" + std::to_string(d.V);
  std::string qk = ty({d.B, d.H, d.L, d.K}), v = ty({d.B, d.H, d.L, d.V}),
              g = keyGate ? qk : ty({d.B, d.H, d.L});
  c.program = "func.func @main(%q: " + qk + ", %k: " + qk + ", %v: " + v +
              ", %g: " + g + ") -> " + v +
              " {\n  %o = ssm.linear_attention %q, %k, %v gate(%g) {scale = "
              "1.0} : (" + qk + ", " + qk + ", " + v + ", " + g + ") -> " + v +
              "\n  return %o : " + v + "\n}\n";
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.H, d.L, d.K});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.H, d.L, d.K});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.H, d.L, d.V});
  if (keyGate)
    c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.H, d.L, d.K});
  else
    c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.H, d.L});
  fill(c.inputs[0], -1, 1, 1), fill(c.inputs[1], -0.2f, 0.2f, 2);
  fill(c.inputs[2], -1, 1, 3), fill(c.inputs[3], -0.1f, -0.001f, 4);
  c.outShapes = {{d.B, d.H, d.L, d.V}};
  c.plain = [d, keyGate](const std::vector<OwnedTensor> &in, OwnedTensor &out) {
    const float *q = in[0].as<float>(), *k = in[1].as<float>(),
                *v = in[2].as<float>(), *g = in[3].as<float>();
    float *o = out.as<float>();
    std::vector<float> S(d.K * d.V);
    for (int64_t bh = 0; bh < d.B * d.H; ++bh) {
      std::fill(S.begin(), S.end(), 0.0f);
      for (int64_t t = 0; t < d.L; ++t) {
        const float *qt = q + (bh * d.L + t) * d.K, *kt = k + (bh * d.L + t) * d.K,
                    *vt = v + (bh * d.L + t) * d.V;
        float a = keyGate ? 0.0f : std::exp(g[bh * d.L + t]);
        float *ot = o + (bh * d.L + t) * d.V;
        for (int64_t j = 0; j < d.V; ++j)
          ot[j] = 0;
        for (int64_t i = 0; i < d.K; ++i) {
          if (keyGate)
            a = std::exp(g[(bh * d.L + t) * d.K + i]);
          for (int64_t j = 0; j < d.V; ++j) {
            float s = a * S[i * d.V + j] + kt[i] * vt[j];
            S[i * d.V + j] = s;
            ot[j] += s * qt[i];
          }
        }
      }
    }
  };
  double tokens = double(d.B) * d.H * d.L;
  c.flops = tokens * 5.0 * d.K * d.V; // decay, outer product add, read-out
  c.bytes = tokens * 4.0 * (2 * d.K + 2 * d.V + (keyGate ? d.K : 1));
  c.items = tokens;
  return c;
}

/// Gated DeltaNet (fla's chunk_gated_delta_rule shapes: B, T, H, K = V) with
/// q/k l2-normalised in the op; `chunk` < 0 leaves the algorithm to the
/// lowering, 0 forces the recurrent form. The plain loop is fla's naive
/// recurrence in float.
Case gatedDeltaRule(Dims d, int64_t chunk) {
  Case c;
  c.name = std::string("gated_delta_rule/") +
           (chunk < 0 ? "auto" : chunk == 0 ? "recurrent"
                                            : "chunk" + std::to_string(chunk)) +
           "/" + std::to_string(d.B) + "x" + std::to_string(d.L) + "x" +
           std::to_string(d.H) + "x" + std::to_string(d.K) + "x" +
           std::to_string(d.V);
  std::string qk = ty({d.B, d.L, d.H, d.K}), v = ty({d.B, d.L, d.H, d.V}),
              g = ty({d.B, d.L, d.H});
  std::string attr =
      chunk < 0 ? "" : " {chunk_size = " + std::to_string(chunk) + " : i64}";
  c.program = "func.func @main(%q: " + qk + ", %k: " + qk + ", %v: " + v +
              ", %beta: " + g + ", %g: " + g + ") -> " + v +
              " {\n  %o = ssm.delta_rule %q, %k, %v beta(%beta) gate(%g) "
              "use_qk_l2norm" + attr + " : (" + qk + ", " + qk + ", " + v +
              ", " + g + ", " + g + ") -> " + v + "\n  return %o : " + v +
              "\n}\n";
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.L, d.H, d.K});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.L, d.H, d.K});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.L, d.H, d.V});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.L, d.H});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.L, d.H});
  fill(c.inputs[0], -1, 1, 1), fill(c.inputs[1], -1, 1, 2);
  fill(c.inputs[2], -1, 1, 3), fill(c.inputs[3], 0, 1, 4);
  fill(c.inputs[4], -0.1f, -0.001f, 5);
  c.outShapes = {{d.B, d.L, d.H, d.V}};
  c.plain = [d](const std::vector<OwnedTensor> &in, OwnedTensor &out) {
    const float *q = in[0].as<float>(), *k = in[1].as<float>(),
                *v = in[2].as<float>(), *beta = in[3].as<float>(),
                *g = in[4].as<float>();
    float *o = out.as<float>();
    const float scale = 1.0f / std::sqrt(float(d.K));
    std::vector<float> S(d.K * d.V), qn(d.K), kn(d.K), u(d.V);
    for (int64_t b = 0; b < d.B; ++b)
      for (int64_t h = 0; h < d.H; ++h) {
        std::fill(S.begin(), S.end(), 0.0f);
        for (int64_t t = 0; t < d.L; ++t) {
          const int64_t bth = (b * d.L + t) * d.H + h;
          float sq = 0, sk = 0;
          for (int64_t i = 0; i < d.K; ++i) {
            sq += q[bth * d.K + i] * q[bth * d.K + i];
            sk += k[bth * d.K + i] * k[bth * d.K + i];
          }
          float rq = scale / std::sqrt(sq + 1e-6f), rk = 1 / std::sqrt(sk + 1e-6f);
          for (int64_t i = 0; i < d.K; ++i) {
            qn[i] = q[bth * d.K + i] * rq;
            kn[i] = k[bth * d.K + i] * rk;
          }
          const float decay = std::exp(g[bth]);
          for (int64_t j = 0; j < d.V; ++j)
            u[j] = v[bth * d.V + j];
          for (int64_t i = 0; i < d.K; ++i)
            for (int64_t j = 0; j < d.V; ++j) {
              S[i * d.V + j] *= decay;
              u[j] -= kn[i] * S[i * d.V + j];
            }
          float *ot = o + bth * d.V;
          for (int64_t j = 0; j < d.V; ++j) {
            u[j] *= beta[bth];
            ot[j] = 0;
          }
          for (int64_t i = 0; i < d.K; ++i)
            for (int64_t j = 0; j < d.V; ++j) {
              S[i * d.V + j] += kn[i] * u[j];
              ot[j] += qn[i] * S[i * d.V + j];
            }
        }
      }
  };
  double tokens = double(d.B) * d.H * d.L;
  // Decay, prediction k^T S, rank-one update and read-out: 7 flops per
  // state element and token.
  c.flops = tokens * 7.0 * d.K * d.V;
  c.bytes = tokens * 4.0 * (2 * d.K + 2 * d.V + 2);
  c.items = tokens;
  return c;
}

/// Mamba-2 SSD: dt bias + softplus, D skip, one group of B/C; K = d_state,
/// V = headdim.
Case ssd(Dims d) {
  Case c;
  c.name = "ssd/" + std::to_string(d.B) + "x" + std::to_string(d.H) + "x" +
           std::to_string(d.L) + "x" + std::to_string(d.K) + "x" +
           std::to_string(d.V);
  std::string x = ty({d.B, d.L, d.H, d.V}), dt = ty({d.B, d.L, d.H}),
              h = ty({d.H}), bc = ty({d.B, d.L, 1, d.K});
  c.program = "func.func @main(%x: " + x + ", %dt: " + dt + ", %A: " + h +
              ", %B: " + bc + ", %C: " + bc + ", %D: " + h + ", %bias: " + h +
              ") -> " + x + " {\n  %y = ssm.ssd %x, %dt, %A, %B, %C D(%D) "
              "dt_bias(%bias) dt_softplus : (" + x + ", " + dt + ", " + h +
              ", " + bc + ", " + bc + ", " + h + ", " + h + ") -> " + x +
              "\n  return %y : " + x + "\n}\n";
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.L, d.H, d.V});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.L, d.H});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.H});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.L, 1, d.K});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.B, d.L, 1, d.K});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.H});
  c.inputs.emplace_back(DType::F32, std::vector<int64_t>{d.H});
  fill(c.inputs[0], -1, 1, 1), fill(c.inputs[1], -3, 1, 2);
  fill(c.inputs[2], -4, -0.5f, 3), fill(c.inputs[3], -1, 1, 4);
  fill(c.inputs[4], -1, 1, 5), fill(c.inputs[5], -1, 1, 6);
  fill(c.inputs[6], -1, 0.5f, 7);
  c.outShapes = {{d.B, d.L, d.H, d.V}};
  c.plain = [d](const std::vector<OwnedTensor> &in, OwnedTensor &out) {
    const float *x = in[0].as<float>(), *dt = in[1].as<float>(),
                *A = in[2].as<float>(), *Bm = in[3].as<float>(),
                *Cm = in[4].as<float>(), *D = in[5].as<float>(),
                *bias = in[6].as<float>();
    float *y = out.as<float>();
    std::vector<float> S(d.V * d.K);
    for (int64_t b = 0; b < d.B; ++b)
      for (int64_t h = 0; h < d.H; ++h) {
        std::fill(S.begin(), S.end(), 0.0f);
        for (int64_t t = 0; t < d.L; ++t) {
          float r = dt[(b * d.L + t) * d.H + h] + bias[h];
          float dtv = r > 20 ? r : std::log1p(std::exp(r));
          float a = std::exp(dtv * A[h]);
          const float *xt = x + ((b * d.L + t) * d.H + h) * d.V;
          const float *bt = Bm + (b * d.L + t) * d.K,
                      *ct = Cm + (b * d.L + t) * d.K;
          float *yt = y + ((b * d.L + t) * d.H + h) * d.V;
          for (int64_t p = 0; p < d.V; ++p) {
            float acc = D[h] * xt[p], dx = dtv * xt[p];
            for (int64_t n = 0; n < d.K; ++n) {
              float s = a * S[p * d.K + n] + dx * bt[n];
              S[p * d.K + n] = s;
              acc += ct[n] * s;
            }
            yt[p] = acc;
          }
        }
      }
  };
  double tokens = double(d.B) * d.H * d.L;
  c.flops = tokens * 5.0 * d.K * d.V;
  c.bytes = double(d.B) * d.L * 4.0 * (2 * d.H * d.V + d.H + 2 * d.K);
  c.items = tokens;
  return c;
}

/// Causal softmax attention, optionally with a sliding window.
Case attention(int64_t B, int64_t H, int64_t L, int64_t d, int64_t window) {
  Case c;
  c.name = "attention/" + std::to_string(B) + "x" + std::to_string(H) + "x" +
           std::to_string(L) + "x" + std::to_string(d) +
           (window ? "/window" + std::to_string(window) : "/causal");
  std::string t = ty({B, H, L, d});
  std::string attrs = window ? "{causal, window = " + std::to_string(window) + "}"
                             : "{causal}";
  c.program = "func.func @main(%q: " + t + ", %k: " + t + ", %v: " + t +
              ") -> " + t + " {\n  %o = ssm.attention %q, %k, %v " + attrs +
              " : (" + t + ", " + t + ", " + t + ") -> " + t +
              "\n  return %o : " + t + "\n}\n";
  for (int i = 0; i < 3; ++i) {
    c.inputs.emplace_back(DType::F32, std::vector<int64_t>{B, H, L, d});
    fill(c.inputs.back(), -1, 1, 10 + i);
  }
  c.outShapes = {{B, H, L, d}};
  c.plain = [=](const std::vector<OwnedTensor> &in, OwnedTensor &out) {
    const float *q = in[0].as<float>(), *k = in[1].as<float>(),
                *v = in[2].as<float>();
    float *o = out.as<float>();
    float scale = 1.0f / std::sqrt(float(d));
    std::vector<float> s(L);
    for (int64_t bh = 0; bh < B * H; ++bh)
      for (int64_t i = 0; i < L; ++i) {
        int64_t lo = window ? std::max<int64_t>(0, i + 1 - window) : 0;
        const float *qi = q + (bh * L + i) * d;
        float top = -INFINITY;
        for (int64_t j = lo; j <= i; ++j) {
          const float *kj = k + (bh * L + j) * d;
          float dot = 0;
          for (int64_t e = 0; e < d; ++e)
            dot += qi[e] * kj[e];
          s[j] = dot * scale;
          top = std::max(top, s[j]);
        }
        float sum = 0;
        for (int64_t j = lo; j <= i; ++j)
          sum += s[j] = std::exp(s[j] - top);
        float *oi = o + (bh * L + i) * d;
        for (int64_t e = 0; e < d; ++e)
          oi[e] = 0;
        for (int64_t j = lo; j <= i; ++j) {
          const float *vj = v + (bh * L + j) * d;
          for (int64_t e = 0; e < d; ++e)
            oi[e] += s[j] / sum * vj[e];
        }
      }
  };
  double pairs = 0;
  for (int64_t i = 0; i < L; ++i)
    pairs += window ? std::min<int64_t>(i + 1, window) : i + 1;
  c.flops = double(B) * H * pairs * 4.0 * d;
  c.bytes = double(B) * H * L * d * 4.0 * 4;
  c.items = double(B) * H * L;
  return c;
}

//===----------------------------------------------------------------------===//
// Decode steps (state lent and updated in place)
//===----------------------------------------------------------------------===//

const char *kLent = " {bufferization.writable = true}";

Case selectiveScanStep() {
  Case c;
  c.name = "selective_scan_step/1536x16";
  int64_t D = 1536, N = 16;
  std::string a = ty({1, D}), A = ty({D, N}), bc = ty({1, N}),
              st = ty({1, D, N}), vec = ty({D});
  c.program = "func.func @main(%u: " + a + ", %dt: " + a + ", %A: " + A +
              ", %B: " + bc + ", %C: " + bc + ", %s: " + st + kLent +
              ", %D: " + vec + ", %z: " + a + ", %bias: " + vec + ") -> (" +
              a + ", " + st + ") {\n  %y, %n = ssm.selective_scan_step %u, "
              "%dt, %A, %B, %C, %s D(%D) z(%z) delta_bias(%bias) "
              "delta_softplus : (" + a + ", " + a + ", " + A + ", " + bc +
              ", " + bc + ", " + st + ", " + vec + ", " + a + ", " + vec +
              ") -> (" + a + ", " + st + ")\n  return %y, %n : " + a + ", " +
              st + "\n}\n";
  std::vector<std::vector<int64_t>> shapes = {{1, D}, {1, D}, {D, N}, {1, N},
                                              {1, N}, {1, D, N}, {D}, {1, D},
                                              {D}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    c.inputs.emplace_back(DType::F32, shapes[i]);
    fill(c.inputs.back(), i == 2 ? -4.0f : -1.0f, i == 2 ? -0.1f : 1.0f, i);
  }
  c.outShapes = {{1, D}, {1, D, N}};
  c.inPlace = {{1, 5}};
  c.flops = double(D) * N * 6;
  c.bytes = double(D) * N * 4 * 3 + D * 4 * 6;
  c.items = 1;
  return c;
}

Case ssdStep() {
  Case c;
  c.name = "ssd_step/24x64x128";
  int64_t H = 24, P = 64, N = 128;
  std::string x = ty({1, H, P}), dt = ty({1, H}), h = ty({H}),
              bc = ty({1, 1, N}), st = ty({1, H, P, N});
  c.program = "func.func @main(%x: " + x + ", %dt: " + dt + ", %A: " + h +
              ", %B: " + bc + ", %C: " + bc + ", %s: " + st + kLent +
              ", %D: " + h + ", %bias: " + h + ") -> (" + x + ", " + st +
              ") {\n  %y, %n = ssm.ssd_step %x, %dt, %A, %B, %C, %s D(%D) "
              "dt_bias(%bias) dt_softplus : (" + x + ", " + dt + ", " + h +
              ", " + bc + ", " + bc + ", " + st + ", " + h + ", " + h +
              ") -> (" + x + ", " + st + ")\n  return %y, %n : " + x + ", " +
              st + "\n}\n";
  std::vector<std::vector<int64_t>> shapes = {{1, H, P}, {1, H}, {H},
                                              {1, 1, N}, {1, 1, N},
                                              {1, H, P, N}, {H}, {H}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    c.inputs.emplace_back(DType::F32, shapes[i]);
    fill(c.inputs.back(), i == 2 ? -4.0f : -1.0f, i == 2 ? -0.5f : 1.0f, i);
  }
  c.outShapes = {{1, H, P}, {1, H, P, N}};
  c.inPlace = {{1, 5}};
  c.flops = double(H) * P * N * 5;
  c.bytes = double(H) * P * N * 4 * 2;
  c.items = 1;
  return c;
}

Case linearAttentionStep() {
  Case c;
  c.name = "linear_attention_step/12x64x64";
  int64_t H = 12, K = 64, V = 64;
  std::string qk = ty({1, H, K}), v = ty({1, H, V}), st = ty({1, H, K, V}),
              g = ty({1, H});
  c.program = "func.func @main(%q: " + qk + ", %k: " + qk + ", %v: " + v +
              ", %s: " + st + kLent + ", %g: " + g + ") -> (" + v + ", " + st +
              ") {\n  %o, %n = ssm.linear_attention_step %q, %k, %v, %s "
              "gate(%g) {scale = 1.0} : (" + qk + ", " + qk + ", " + v + ", " +
              st + ", " + g + ") -> (" + v + ", " + st +
              ")\n  return %o, %n : " + v + ", " + st + "\n}\n";
  std::vector<std::vector<int64_t>> shapes = {{1, H, K}, {1, H, K}, {1, H, V},
                                              {1, H, K, V}, {1, H}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    c.inputs.emplace_back(DType::F32, shapes[i]);
    fill(c.inputs.back(), i == 4 ? -0.1f : -1.0f, i == 4 ? -0.01f : 1.0f, i);
  }
  c.outShapes = {{1, H, V}, {1, H, K, V}};
  c.inPlace = {{1, 3}};
  c.flops = double(H) * K * V * 5;
  c.bytes = double(H) * K * V * 4 * 2;
  c.items = 1;
  return c;
}

/// One token against a full KV cache of C tokens (position C - 1).
Case attentionStep(int64_t C) {
  Case c;
  int64_t H = 12, d = 64;
  c.name = "attention_step/12x64/cache" + std::to_string(C);
  std::string t = ty({1, H, d}), cache = ty({1, H, C, d});
  c.program = "func.func @main(%q: " + t + ", %k: " + t + ", %v: " + t +
              ", %kc: " + cache + kLent + ", %vc: " + cache + kLent +
              ") -> (" + t + ", " + cache + ", " + cache +
              ") {\n  %pos = arith.constant " + std::to_string(C - 1) +
              " : index\n  %o, %nk, %nv = ssm.attention_step %q, %k, %v, "
              "%kc, %vc, %pos : (" + t + ", " + t + ", " + t + ", " + cache +
              ", " + cache + ", index) -> (" + t + ", " + cache + ", " +
              cache + ")\n  return %o, %nk, %nv : " + t + ", " + cache +
              ", " + cache + "\n}\n";
  std::vector<std::vector<int64_t>> shapes = {{1, H, d}, {1, H, d}, {1, H, d},
                                              {1, H, C, d}, {1, H, C, d}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    c.inputs.emplace_back(DType::F32, shapes[i]);
    fill(c.inputs.back(), -1, 1, i);
  }
  c.outShapes = {{1, H, d}, {1, H, C, d}, {1, H, C, d}};
  c.inPlace = {{1, 3}, {2, 4}};
  c.flops = double(H) * C * d * 4;
  c.bytes = double(H) * C * d * 4 * 2;
  c.items = 1;
  return c;
}

std::vector<std::unique_ptr<Case>> &cases() {
  static std::vector<std::unique_ptr<Case>> all;
  return all;
}

void registerAll() {
  auto add = [](Case c, bool twoThreads = true) {
    cases().push_back(std::make_unique<Case>(std::move(c)));
    const Case *p = cases().back().get();
    if (p->plain)
      benchmark::RegisterBenchmark(("plain/" + p->name).c_str(), runPlain, p)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    for (unsigned t : twoThreads ? std::vector<unsigned>{1, 2}
                                 : std::vector<unsigned>{1})
      benchmark::RegisterBenchmark(
          ("ssmc/" + p->name + "/threads:" + std::to_string(t)).c_str(),
          runSSMC, p, t)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    for (unsigned t : twoThreads ? std::vector<unsigned>{1, 2}
                                 : std::vector<unsigned>{1})
      benchmark::RegisterBenchmark(
          ("ssmc-run/" + p->name + "/threads:" + std::to_string(t)).c_str(),
          runSSMCRun, p, t)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
  };
  add(linearAttention({1, 12, 2048, 64, 64}));
  add(linearAttention({4, 32, 4096, 64, 128}));
  add(linearAttention({4, 32, 4096, 64, 128}, /*keyGate=*/true));
  add(gatedDeltaRule({1, 16, 4096, 128, 128}, /*chunk=*/0));
  add(gatedDeltaRule({1, 16, 4096, 128, 128}, /*chunk=*/-1));
  add(ssd({1, 12, 2048, 64, 64}));
  add(ssd({4, 32, 4096, 64, 128}));
  add(attention(1, 12, 2048, 64, 0));
  add(attention(1, 12, 2048, 64, 256));
  add(selectiveScanStep());
  add(ssdStep());
  add(linearAttentionStep());
  for (int64_t C : {1024, 16384, 131072})
    add(attentionStep(C));
}

} // namespace

int main(int argc, char **argv) {
  registerAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // The engines go before main returns: destroyed among the static
  // objects at exit, their deinitialisation generated code after the
  // code generator's own function-local statics (created later, during the
  // first compile, so destroyed earlier) were gone, and the process died
  // after printing its rows ("scalar-to-vector conversion failed", "Do not
  // know how to promote this operator", or a segfault).
  jits().clear();
  return 0;
}
