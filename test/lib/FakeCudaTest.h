//===- FakeCudaTest.h - gtests over the fake CUDA driver --------*- C++ -*-===//
//
// What the tests of the CUDA host path over the test-only fake driver
// (test/fakecuda) share: its test-only functions (ssmcFakeCuda<name>,
// looked up in the loaded libcuda.so.1), failure injection, and a fixture
// whose cases run only where libcuda.so.1 is the fake. Where ctest sets
// SSMC_EXPECT_FAKE_CUDA (the fakecuda.* tests), a case that would skip
// fails instead.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TEST_LIB_FAKECUDATEST_H
#define SSMC_TEST_LIB_FAKECUDATEST_H

#include "ssmc/Cuda.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cstdlib>
#include <string>

extern "C" int ssmcCudaHostTwinsWanted();

namespace ssmc::test {

/// The fake driver's function ssmcFakeCuda<name>, or null where
/// libcuda.so.1 is not loaded or has no such function (a real driver).
template <typename F> F *fakeCudaFunction(const std::string &name) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  return lib ? reinterpret_cast<F *>(
                   dlsym(lib, ("ssmcFakeCuda" + name).c_str()))
             : nullptr;
}

/// Makes driver calls fail (SSMC_FAKE_CUDA_FAIL syntax; "" none) and
/// clears the fake's call counts.
inline void setFailures(const char *spec) {
  auto *set = fakeCudaFunction<void(const char *)>("SetFailures");
  ASSERT_NE(set, nullptr);
  set(spec);
}

/// Runs its cases where libcuda.so.1 is the fake driver, each with no
/// failure injected and no driver error pending from an earlier case.
class FakeCudaTest : public ::testing::Test {
protected:
  void SetUp() override {
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

} // namespace ssmc::test

#endif // SSMC_TEST_LIB_FAKECUDATEST_H
