//===- RunProgram.h - run a test program and measure its error --*- C++ -*-===//
//
// What the numerical gtests share around the compiler: inputs (random
// values, tensors of values), compile a program's text for a target
// (compileOrFail) and run its @main on owned inputs (runProgram), and the
// largest difference of a result from its double-precision reference with
// the scale the tolerances multiply (maxError: max(1, max |want|); a NaN
// counts as an infinite error).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TEST_LIB_RUNPROGRAM_H
#define SSMC_TEST_LIB_RUNPROGRAM_H

#include "ssmc/Jit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace ssmc::test {

/// `n` values drawn uniformly from [lo, hi).
inline std::vector<double> randomValues(std::mt19937 &rng, size_t n, double lo,
                                        double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(n);
  for (double &x : v)
    x = d(rng);
  return v;
}

/// A tensor of `dt` and `shape` drawn uniformly from [lo, hi), one draw
/// per element in order; the values it holds (rounded to `dt`) are appended
/// to `values`, for the reference.
inline OwnedTensor randomTensor(std::mt19937 &rng, DType dt,
                                std::vector<int64_t> shape, double lo,
                                double hi, std::vector<double> &values) {
  OwnedTensor t(dt, shape);
  std::uniform_real_distribution<double> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    t.setFromDouble(i, d(rng));
    values.push_back(t.getAsDouble(i));
  }
  return t;
}

/// A tensor of `shape` and element type `dt` holding `v` (rounded to `dt`).
inline OwnedTensor tensorOf(std::vector<int64_t> shape,
                            const std::vector<double> &v,
                            DType dt = DType::F32) {
  OwnedTensor t(dt, shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.setFromDouble(i, v[i]);
  return t;
}

/// `src` compiled for `target`, or null after failing the calling test.
inline std::unique_ptr<Jit> compileOrFail(const std::string &src,
                                          Target target = Target::CPU) {
  JitOptions options;
  options.target = target;
  auto jit = Jit::compile(src, options);
  EXPECT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  return jit ? std::move(*jit) : nullptr;
}

/// Compiles `text` for `target` and runs its @main on `inputs`.
inline llvm::Expected<std::vector<OwnedTensor>>
runProgram(const std::string &text, std::vector<OwnedTensor> &inputs,
           Target target) {
  JitOptions options;
  options.target = target;
  auto jit = Jit::compile(text, options);
  if (!jit)
    return jit.takeError();
  std::vector<Tensor> views;
  for (OwnedTensor &t : inputs)
    views.push_back(t.view());
  return (*jit)->run("main", views);
}

/// max |got - want| (infinite where got is NaN) and max(1, max |want|);
/// a size mismatch fails the calling test.
inline std::pair<double, double> maxError(const OwnedTensor &got,
                                          const std::vector<double> &want) {
  double err = 0, scale = 1;
  EXPECT_EQ(got.numel(), int64_t(want.size()));
  for (int64_t i = 0; i < std::min<int64_t>(got.numel(), want.size()); ++i) {
    double g = got.getAsDouble(i);
    err = std::isnan(g) ? INFINITY : std::max(err, std::fabs(g - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  return {err, scale};
}

} // namespace ssmc::test

#endif // SSMC_TEST_LIB_RUNPROGRAM_H
