//===- jit_selective_scan.cpp - using ssmc from C++ -----------------------===//
//
// Compiles a Mamba-1 selective scan with ssmc::Jit, runs it on random inputs
// and checks the result against the double-precision reference. Built and
// run by the test suite (ctest -R example).
//
//   build/bin/ssmc-example-jit [threads]
//
//===----------------------------------------------------------------------===//

#include "ssmc/Jit.h"
#include "test/lib/Reference.h"

#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdlib>
#include <random>

static const char *kProgram = R"mlir(
func.func @mixer(%u: tensor<2x64x100xf32>, %delta: tensor<2x64x100xf32>,
                 %A: tensor<64x16xf32>, %B: tensor<2x16x100xf32>,
                 %C: tensor<2x16x100xf32>, %D: tensor<64xf32>)
    -> (tensor<2x64x100xf32>, tensor<2x64x16xf32>) {
  %y, %h = ssm.selective_scan %u, %delta, %A, %B, %C D(%D) delta_softplus
      : (tensor<2x64x100xf32>, tensor<2x64x100xf32>, tensor<64x16xf32>,
         tensor<2x16x100xf32>, tensor<2x16x100xf32>, tensor<64xf32>)
      -> (tensor<2x64x100xf32>, tensor<2x64x16xf32>)
  return %y, %h : tensor<2x64x100xf32>, tensor<2x64x16xf32>
}
)mlir";

int main(int argc, char **argv) {
  ssmc::JitOptions options;
  options.threads = argc > 1 ? std::atoi(argv[1]) : 0;
  auto jit = ssmc::Jit::compile(kProgram, options, "mixer.mlir");
  if (!jit) {
    llvm::errs() << llvm::toString(jit.takeError()) << "\n";
    return 1;
  }

  // Inputs as owned tensors; the reference reads the same values.
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uni(-1, 1);
  ssmc::ref::SelectiveScanProblem p;
  p.batch = 2, p.channels = 64, p.seqLen = 100, p.stateSize = 16;
  p.deltaSoftplus = true;
  auto make = [&](std::vector<int64_t> shape, float lo, float hi,
                  std::vector<double> &ref) {
    ssmc::OwnedTensor t(ssmc::DType::F32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
      float v = lo + (hi - lo) * (uni(rng) + 1) / 2;
      t.as<float>()[i] = v;
      ref.push_back(v);
    }
    return t;
  };
  std::vector<ssmc::OwnedTensor> inputs;
  inputs.push_back(make({2, 64, 100}, -1, 1, p.u));
  inputs.push_back(make({2, 64, 100}, -3, 1, p.delta));
  inputs.push_back(make({64, 16}, -4, -0.1f, p.A));
  inputs.push_back(make({2, 16, 100}, -1, 1, p.B));
  inputs.push_back(make({2, 16, 100}, -1, 1, p.C));
  inputs.push_back(make({64}, -1, 1, p.D));
  std::vector<ssmc::Tensor> views;
  for (auto &t : inputs)
    views.push_back(t.view());

  // Destination-passing form: results land in caller-provided tensors.
  ssmc::OwnedTensor y(ssmc::DType::F32, {2, 64, 100});
  ssmc::OwnedTensor h(ssmc::DType::F32, {2, 64, 16});
  if (llvm::Error e = (*jit)->invoke("mixer", views, {y.view(), h.view()})) {
    llvm::errs() << llvm::toString(std::move(e)) << "\n";
    return 1;
  }

  ssmc::ref::SelectiveScanResult want = ssmc::ref::selectiveScan(p);
  double err = 0, scale = 1;
  for (int64_t i = 0; i < y.numel(); ++i) {
    err = std::max(err, std::fabs(y.as<float>()[i] - want.out[i]));
    scale = std::max(scale, std::fabs(want.out[i]));
  }
  bool ok = err <= 1e-4 * scale;
  llvm::outs() << "mixer: max |y - reference| = " << err << " (tolerance "
               << 1e-4 * scale << "): " << (ok ? "OK" : "FAIL") << "\n";
  return ok ? 0 : 1;
}
