//===- attention_fold_bench.cpp - the ring's fold against the kernel ------===//
//
// What one rank of ring attention spends folding K/V blocks, against what
// the compiled ssm.attention kernel spends on the same work: on one
// process, the compiled op (Jit, one thread) and ssmcMpiRingAttention as
// rank 0 of 1 (it folds its own block: the whole attention) for each build
// of the fold this CPU runs (portable: generic x86-64; AVX2 + FMA;
// AVX-512), on the same inputs. The variants run in turns, `--runs` rounds,
// so that a drifting machine load reaches all alike; each row is the
// median of its rounds, with its ratio to the kernel's median and the
// largest difference from the kernel's output.
//
//   build/bin/ssmc-bench-attention-fold [--len 4096] [--heads 4]
//       [--kv-heads 2] [--head-dim 64] [--runs 5] [--no-causal]
//
//===----------------------------------------------------------------------===//

#include "runtime/mpi/MpiRuntime.h"
#include "ssmc/Jit.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <vector>

using namespace llvm;

namespace {
cl::opt<int64_t> len("len", cl::init(4096), cl::desc("sequence length L"));
cl::opt<int64_t> heads("heads", cl::init(4), cl::desc("query heads H"));
cl::opt<int64_t> kvHeads("kv-heads", cl::init(2), cl::desc("K/V heads"));
cl::opt<int64_t> headDim("head-dim", cl::init(64), cl::desc("d = dv"));
cl::opt<int> runs("runs", cl::init(5), cl::desc("rounds of every variant"));
cl::opt<bool> noCausal("no-causal", cl::desc("attention without causal"));

std::string type(std::vector<int64_t> dims) {
  std::string t = "tensor<";
  for (int64_t d : dims)
    t += std::to_string(d) + "x";
  return t + "f32>";
}

ssmc::abi::StridedMemRef<float, 4> memref(ssmc::OwnedTensor &t) {
  ssmc::abi::StridedMemRef<float, 4> m;
  m.allocated = m.aligned = t.as<float>();
  m.offset = 0;
  int64_t stride = 1;
  for (int i = 3; i >= 0; --i) {
    m.sizes[i] = t.shape()[i];
    m.strides[i] = stride;
    stride *= t.shape()[i];
  }
  return m;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
} // namespace

int main(int argc, char **argv) {
  cl::ParseCommandLineOptions(argc, argv,
                              "ring attention's fold against the kernel\n");
  const int64_t L = len, H = heads, Hkv = kvHeads, d = headDim;
  const std::string qT = type({1, H, L, d}), kT = type({1, Hkv, L, d});
  const std::string program =
      "func.func @main(%q: " + qT + ", %k: " + kT + ", %v: " + kT + ") -> " +
      qT + " {\n  %o = ssm.attention %q, %k, %v" +
      (noCausal ? "" : " causal") + " : (" + qT + ", " + kT + ", " + kT +
      ") -> " + qT + "\n  return %o : " + qT + "\n}\n";
  ssmc::JitOptions options;
  options.threads = 1;
  auto jit = ssmc::Jit::compile(program, options, "attention");
  if (!jit) {
    errs() << toString(jit.takeError()) << "\n";
    return 1;
  }
  ssmc::OwnedTensor q(ssmc::DType::F32, {1, H, L, d}),
      k(ssmc::DType::F32, {1, Hkv, L, d}), v(ssmc::DType::F32, {1, Hkv, L, d});
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (ssmc::OwnedTensor *t : {&q, &k, &v})
    for (int64_t i = 0; i < t->numel(); ++i)
      t->as<float>()[i] = dist(rng);

  // Variant 0 is the kernel, 1 + isa the fold's builds this CPU runs.
  std::vector<int64_t> builds;
  for (int64_t isa = 0; isa <= 2; ++isa)
    if (ssmcMpiAttentionFoldIsa(isa) == isa)
      builds.push_back(isa);
  const char *names[] = {"fold, portable (generic x86-64)", "fold, AVX2 + FMA",
                         "fold, AVX-512"};
  std::vector<ssmc::OwnedTensor> results;
  for (size_t i = 0; i <= builds.size(); ++i)
    results.emplace_back(ssmc::DType::F32, std::vector<int64_t>{1, H, L, d});
  std::vector<std::vector<double>> ms(builds.size() + 1);
  std::vector<float> empty;
  ssmc::abi::StridedMemRef<float, 1> none{empty.data(), empty.data(), 0, {0},
                                          {1}};
  ssmc::abi::StridedMemRef<int64_t, 1> none64{nullptr, nullptr, 0, {0}, {1}};
  for (int round = 0; round < runs; ++round)
    for (size_t i = 0; i <= builds.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      if (i == 0) {
        if (Error e = (*jit)->invoke("main", {q.view(), k.view(), v.view()},
                                     {results[0].view()})) {
          errs() << toString(std::move(e)) << "\n";
          return 1;
        }
      } else {
        ssmcMpiAttentionFoldIsa(builds[i - 1]);
        auto qm = memref(q), km = memref(k), vm = memref(v),
             om = memref(results[i]);
        _mlir_ciface_ssmcMpiRingAttention(&qm, &km, &vm, &none, &none, &none64,
                                          &none64, &none64, &om, NAN, 0, -1,
                                          noCausal ? -1 : 0, 1);
      }
      ms[i].push_back(std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - t0)
                          .count());
    }
  const double kernel = median(ms[0]);
  outs() << "L = " << L << ", H = " << H << ", Hkv = " << Hkv << ", d = dv = "
         << d << (noCausal ? ", no causal" : ", causal") << ", one thread, "
         << "median of " << runs << " rounds\n\n"
         << "| variant | ms | over the kernel | max |diff| from the kernel |\n"
         << "| --- | --- | --- | --- |\n";
  for (size_t i = 0; i <= builds.size(); ++i) {
    double diff = 0;
    for (int64_t e = 0; e < results[0].numel(); ++e)
      diff = std::max(diff, double(std::fabs(results[i].as<float>()[e] -
                                             results[0].as<float>()[e])));
    outs() << format("| %s | %.1f | %.2fx | %.2g |\n",
                     i == 0 ? "compiled kernel" : names[builds[i - 1]],
                     median(ms[i]), median(ms[i]) / kernel, diff);
  }
  return 0;
}
