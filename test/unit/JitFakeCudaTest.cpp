//===- JitFakeCudaTest.cpp - the JIT's CUDA host path over the fake driver ===//
//
// Runs only where libcuda.so.1 is the test-only fake driver (test/fakecuda):
// ctest's `fakecuda.jit` runs these cases with LD_LIBRARY_PATH pointing at
// it; elsewhere they skip. Failures are injected through the fake's
// ssmcFakeCudaSetFailures. Numbers are checked against ssmc::ref.
//
//===----------------------------------------------------------------------===//

#include "ProgramBuilder.h"

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"
#include "test/lib/Reference.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>

extern "C" int ssmcCudaHostTwinsWanted();

using namespace ssmc;

namespace {

void setFailures(const char *spec) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(lib, nullptr);
  auto set = reinterpret_cast<void (*)(const char *)>(
      dlsym(lib, "ssmcFakeCudaSetFailures"));
  ASSERT_NE(set, nullptr);
  set(spec);
}

class JitOverFakeCuda : public ::testing::Test {
protected:
  void SetUp() override {
    // ctest's fakecuda.jit sets SSMC_EXPECT_FAKE_CUDA: there, a skip is a
    // failure.
    const bool expected = std::getenv("SSMC_EXPECT_FAKE_CUDA") != nullptr;
    if (llvm::Error e = cuda::available()) {
      if (expected)
        FAIL() << llvm::toString(std::move(e));
      GTEST_SKIP() << llvm::toString(std::move(e));
    }
    if (!ssmcCudaHostTwinsWanted()) {
      if (expected)
        FAIL() << "libcuda.so.1 is not the fake driver";
      GTEST_SKIP() << "libcuda.so.1 is a real driver, not the fake";
    }
    setFailures("");
    (void)cuda::takeError();
    (void)cuda::takeLoadError();
  }
  void TearDown() override {
    if (ssmcCudaHostTwinsWanted())
      setFailures("");
  }
};

/// A small selective scan, its inputs and the double reference.
struct Scan {
  test::SelectiveScanConfig config;
  ref::SelectiveScanProblem problem;
  std::vector<OwnedTensor> inputs;

  explicit Scan(int64_t channels) {
    config.batch = 2;
    config.channels = channels;
    config.seqLen = 9;
    config.stateSize = 4;
    problem.batch = 2;
    problem.channels = channels;
    problem.seqLen = 9;
    problem.stateSize = 4;
    auto add = [&](std::vector<int64_t> shape, std::vector<double> &values,
                   double lo, double hi, int seed) {
      OwnedTensor t(DType::F32, shape);
      int64_t n = 1;
      for (int64_t d : shape)
        n *= d;
      values.resize(n);
      for (int64_t i = 0; i < n; ++i) {
        double x = lo + (hi - lo) * (0.5 + 0.5 * std::sin(1.7 * i + seed));
        t.as<float>()[i] = static_cast<float>(x);
        values[i] = static_cast<float>(x);
      }
      inputs.push_back(std::move(t));
    };
    add({2, channels, 9}, problem.u, -1, 1, 1);
    add({2, channels, 9}, problem.delta, 0.01, 0.5, 2);
    add({channels, 4}, problem.A, -2, -0.1, 3);
    add({2, 4, 9}, problem.B, -1, 1, 4);
    add({2, 4, 9}, problem.C, -1, 1, 5);
  }

  std::vector<Tensor> views() {
    std::vector<Tensor> v;
    for (OwnedTensor &t : inputs)
      v.push_back(t.view());
    return v;
  }
};

JitOptions cudaOptions() {
  JitOptions o;
  o.target = Target::CUDA;
  return o;
}

// The first program's GPU module fails to load: its compilation fails with
// the driver's message and JIT log. A second program compiled afterwards in
// the same process is unaffected: it runs and matches the reference (or,
// while the pipeline registers no host twins, its run fails for that reason
// and no other: never with the first program's load error, never silently).
TEST_F(JitOverFakeCuda, AFailedModuleLoadFailsItsCompileOnly) {
  Scan first(3), second(5);
  setFailures("cuModuleLoadDataEx:1");
  auto broken = Jit::compile(test::selectiveScanProgram(first.config),
                             cudaOptions());
  ASSERT_FALSE(static_cast<bool>(broken));
  std::string why = llvm::toString(broken.takeError());
  EXPECT_NE(why.find("loading the GPU module"), std::string::npos) << why;
  EXPECT_NE(why.find("CUDA error 218"), std::string::npos) << why;
  EXPECT_NE(why.find("JIT error log: ptxas fatal   : (fake JIT) failure "
                     "injected"),
            std::string::npos)
      << why;

  auto jit = Jit::compile(test::selectiveScanProgram(second.config),
                          cudaOptions());
  ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  auto results = (*jit)->run("main", second.views());
  if (!results) {
    std::string run = llvm::toString(results.takeError());
    EXPECT_EQ(run.find("failure injected"), std::string::npos)
        << "the first program's load error charged to the second: " << run;
    EXPECT_NE(run.find("cuLaunchKernel failed with CUDA error 500"),
              std::string::npos)
        << run;
    return;
  }
  ref::SelectiveScanResult want = ref::selectiveScan(second.problem);
  ASSERT_EQ(results->size(), 1u);
  const float *y = (*results)[0].as<float>();
  double scale = 1;
  for (double v : want.out)
    scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < want.out.size(); ++i)
    ASSERT_NEAR(y[i], want.out[i], 1e-4 * scale) << "element " << i;
}

// A failed compile takes its load error with it: nothing is left pending
// for the next program or run on this thread.
TEST_F(JitOverFakeCuda, LoadErrorsAreNotLeftForLaterPrograms) {
  Scan scan(2);
  setFailures("cuModuleLoadDataEx:1");
  auto broken = Jit::compile(test::selectiveScanProgram(scan.config),
                             cudaOptions());
  ASSERT_FALSE(static_cast<bool>(broken));
  llvm::consumeError(broken.takeError());
  EXPECT_EQ(cuda::takeLoadError(), std::nullopt);
  EXPECT_EQ(cuda::takeError(), std::nullopt);
}

} // namespace
