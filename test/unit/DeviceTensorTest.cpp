//===- DeviceTensorTest.cpp - device-resident tensors on the CUDA target --===//
//
// ssmc::cuda::DeviceTensor: a program compiled for the CUDA target uses
// device-resident inputs and outputs in place (the staging code asks the
// runtime, which counts the buffers it found resident), and computes the
// same numbers as with host tensors. Runs where a CUDA driver is (a GPU, or
// the test-only fake driver); without one, the allocation's error is
// checked.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"

#include "test/lib/Reference.h"

#include "gtest/gtest.h"

#include <cmath>
#include <random>

using namespace ssmc;

namespace {

constexpr const char *kProgram = R"mlir(
func.func @main(%u: tensor<2x5x7xf32>, %dt: tensor<2x5x7xf32>, %A: tensor<5x3xf32>,
                %B: tensor<2x3x7xf32>, %C: tensor<2x3x7xf32>) -> tensor<2x5x7xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C delta_softplus
      : (tensor<2x5x7xf32>, tensor<2x5x7xf32>, tensor<5x3xf32>, tensor<2x3x7xf32>,
         tensor<2x3x7xf32>) -> tensor<2x5x7xf32>
  return %y : tensor<2x5x7xf32>
}
)mlir";

std::string errorOf(llvm::Error e) { return llvm::toString(std::move(e)); }

TEST(DeviceTensor, AllocationNeedsADriver) {
  auto t = cuda::DeviceTensor::allocate(DType::F32, {4, 3});
  if (llvm::Error e = cuda::available()) {
    std::string why = errorOf(std::move(e));
    ASSERT_FALSE(t);
    EXPECT_EQ(errorOf(t.takeError()), why);
    return;
  }
  ASSERT_TRUE(!!t) << errorOf(t.takeError());
  EXPECT_NE(t->data(), nullptr);
  EXPECT_EQ(t->view().device, Device::CUDA);
  auto bad = cuda::DeviceTensor::allocate(DType::F32, {-1});
  ASSERT_FALSE(bad);
  EXPECT_NE(errorOf(bad.takeError()).find("negative size"), std::string::npos);
}

class DeviceTensorOnCuda : public ::testing::Test {
protected:
  void SetUp() override {
    if (llvm::Error e = cuda::available())
      GTEST_SKIP() << errorOf(std::move(e));
    JitOptions options;
    options.target = Target::CUDA;
    auto j = Jit::compile(kProgram, options, "device.mlir");
    ASSERT_TRUE(!!j) << errorOf(j.takeError());
    jit = std::move(*j);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    const std::vector<std::vector<int64_t>> shapes = {
        {2, 5, 7}, {2, 5, 7}, {5, 3}, {2, 3, 7}, {2, 3, 7}};
    for (const auto &s : shapes) {
      host.emplace_back(DType::F32, s);
      for (int64_t i = 0; i < host.back().numel(); ++i)
        host.back().as<float>()[i] = dist(rng);
    }
    for (int64_t i = 0; i < host[2].numel(); ++i) // decaying A
      host[2].as<float>()[i] = -std::fabs(host[2].as<float>()[i]) - 0.1f;
  }

  /// The double reference of the program on `host`.
  std::vector<double> reference() {
    ref::SelectiveScanProblem p;
    p.batch = 2, p.channels = 5, p.seqLen = 7, p.stateSize = 3;
    p.deltaSoftplus = true;
    auto vec = [](OwnedTensor &t) {
      return std::vector<double>(t.as<float>(), t.as<float>() + t.numel());
    };
    p.u = vec(host[0]), p.delta = vec(host[1]), p.A = vec(host[2]);
    p.B = vec(host[3]), p.C = vec(host[4]);
    return ref::selectiveScan(p).out;
  }

  std::unique_ptr<Jit> jit;
  std::vector<OwnedTensor> host;
};

TEST_F(DeviceTensorOnCuda, InputsAndOutputsStayOnTheDevice) {
  std::vector<cuda::DeviceTensor> inputs;
  std::vector<Tensor> views;
  for (OwnedTensor &t : host) {
    auto d = cuda::DeviceTensor::upload(t.view());
    ASSERT_TRUE(!!d) << errorOf(d.takeError());
    views.push_back(d->view());
    inputs.push_back(std::move(*d));
  }
  auto out = cuda::DeviceTensor::allocate(DType::F32, {2, 5, 7});
  ASSERT_TRUE(!!out) << errorOf(out.takeError());
  int64_t before = cuda::residentHits();
  ASSERT_FALSE(jit->invoke("main", views, {out->view()}));
  // Every buffer of the kernel (5 inputs, the output) was used in place.
  EXPECT_GE(cuda::residentHits() - before, 6);
  auto y = out->download();
  ASSERT_TRUE(!!y) << errorOf(y.takeError());
  std::vector<double> want = reference();
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(y->as<float>()[i], want[i], 1e-4 * (1 + std::fabs(want[i])))
        << "element " << i;

  // Host tensors: the same numbers, and nothing found resident.
  before = cuda::residentHits();
  std::vector<Tensor> hostViews;
  for (OwnedTensor &t : host)
    hostViews.push_back(t.view());
  auto r = jit->run("main", hostViews);
  ASSERT_TRUE(!!r) << errorOf(r.takeError());
  EXPECT_EQ(cuda::residentHits(), before);
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR((*r)[0].as<float>()[i], want[i], 1e-4 * (1 + std::fabs(want[i])));
}

TEST_F(DeviceTensorOnCuda, UploadOfAStridedViewAndMixedInputs) {
  // u uploaded from a transposed-then-restored strided view, dt from host.
  OwnedTensor wide(DType::F32, {2, 5, 14});
  for (int64_t i = 0; i < wide.numel(); ++i)
    wide.as<float>()[i] = -7.0f;
  Tensor strided = wide.view();
  strided.shape = {2, 5, 7};
  strided.strides = {70, 14, 2};
  copyFromContiguous(host[0].data(), strided);
  auto u = cuda::DeviceTensor::upload(strided);
  ASSERT_TRUE(!!u) << errorOf(u.takeError());
  std::vector<Tensor> views = {u->view(), host[1].view(), host[2].view(),
                               host[3].view(), host[4].view()};
  auto r = jit->run("main", views);
  ASSERT_TRUE(!!r) << errorOf(r.takeError());
  std::vector<double> want = reference();
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR((*r)[0].as<float>()[i], want[i], 1e-4 * (1 + std::fabs(want[i])));
}

TEST_F(DeviceTensorOnCuda, StridedDeviceViewsAreRejected) {
  auto u = cuda::DeviceTensor::upload(host[0].view());
  ASSERT_TRUE(!!u) << errorOf(u.takeError());
  Tensor v = u->view();
  v.shape = {2, 5, 3};
  v.strides = {35, 7, 2};
  std::vector<Tensor> views = {v, host[1].view(), host[2].view(),
                               host[3].view(), host[4].view()};
  auto r = jit->run("main", views);
  ASSERT_FALSE(r);
  EXPECT_NE(errorOf(r.takeError()).find("device tensors must be contiguous"),
            std::string::npos);
}

} // namespace
