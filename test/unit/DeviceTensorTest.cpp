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

#include <dlfcn.h>

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

/// A layer loop over stacked weights: each iteration's matmul kernel reads
/// the layer's slice of `w` and the add's kernel (a linalg kernel) the
/// layer's slice of `bias`, subviews at the loop's index, which the kernels
/// read where they lie when the stacked arguments are device-resident.
constexpr const char *kLayerProgram = R"mlir(
func.func @main(%w: tensor<3x4x6xf32>, %bias: tensor<3x4x2xf32>,
                %x: tensor<6x2xf32>) -> tensor<3x4x2xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<3x4x2xf32>
  %r = scf.for %l = %c0 to %c3 step %c1 iter_args(%acc = %init) -> tensor<3x4x2xf32> {
    %wl = tensor.extract_slice %w[%l, 0, 0] [1, 4, 6] [1, 1, 1]
        : tensor<3x4x6xf32> to tensor<4x6xf32>
    %bl = tensor.extract_slice %bias[%l, 0, 0] [1, 4, 2] [1, 1, 1]
        : tensor<3x4x2xf32> to tensor<4x2xf32>
    %z = tensor.empty() : tensor<4x2xf32>
    %f = linalg.fill ins(%zero : f32) outs(%z : tensor<4x2xf32>) -> tensor<4x2xf32>
    %y = linalg.matmul ins(%wl, %x : tensor<4x6xf32>, tensor<6x2xf32>)
                       outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
    %e = tensor.empty() : tensor<4x2xf32>
    %yb = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>,
                                           affine_map<(i, j) -> (i, j)>,
                                           affine_map<(i, j) -> (i, j)>],
                          iterator_types = ["parallel", "parallel"]}
        ins(%y, %bl : tensor<4x2xf32>, tensor<4x2xf32>) outs(%e : tensor<4x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %s = arith.addf %a, %b : f32
      linalg.yield %s : f32
    } -> tensor<4x2xf32>
    %next = tensor.insert_slice %yb into %acc[%l, 0, 0] [1, 4, 2] [1, 1, 1]
        : tensor<4x2xf32> into tensor<3x4x2xf32>
    scf.yield %next : tensor<3x4x2xf32>
  }
  return %r : tensor<3x4x2xf32>
}
)mlir";

/// Bytes the fake driver has copied host-to-device (`toDevice`) or back;
/// -1 under another driver.
int64_t fakeCopiedBytes(bool toDevice) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  auto f = lib ? reinterpret_cast<int64_t (*)(int)>(
                     dlsym(lib, "ssmcFakeCudaCopiedBytes"))
               : nullptr;
  return f ? f(toDevice ? 1 : 0) : -1;
}

// Slices of resident stacked weights at a loop's index are read in place:
// the only bytes copied to the device are x's (48 bytes, each of the 3
// layers), nothing of w or bias; with host tensors their slices are copied
// too (96 + 32 bytes a layer). Both give the double reference.
TEST(DeviceTensorSlices, LayerSlicesOfResidentWeightsAreReadInPlace) {
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << errorOf(std::move(e));
  JitOptions options;
  options.target = Target::CUDA;
  auto jit = Jit::compile(kLayerProgram, options, "layers.mlir");
  ASSERT_TRUE(!!jit) << errorOf(jit.takeError());
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  OwnedTensor w(DType::F32, {3, 4, 6}), bias(DType::F32, {3, 4, 2}),
      x(DType::F32, {6, 2});
  for (OwnedTensor *t : {&w, &bias, &x})
    for (int64_t i = 0; i < t->numel(); ++i)
      t->as<float>()[i] = dist(rng);
  std::vector<double> want(3 * 4 * 2);
  for (int64_t l = 0; l < 3; ++l)
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t n = 0; n < 2; ++n) {
        double sum = bias.as<float>()[(l * 4 + r) * 2 + n];
        for (int64_t k = 0; k < 6; ++k)
          sum += double(w.as<float>()[(l * 4 + r) * 6 + k]) *
                 double(x.as<float>()[k * 2 + n]);
        want[(l * 4 + r) * 2 + n] = sum;
      }
  auto check = [&](const OwnedTensor &got) {
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(got.as<float>()[i], want[i], 1e-5 * (1 + std::fabs(want[i])))
          << "element " << i;
  };

  auto dw = cuda::DeviceTensor::upload(w.view());
  ASSERT_TRUE(!!dw) << errorOf(dw.takeError());
  auto db = cuda::DeviceTensor::upload(bias.view());
  ASSERT_TRUE(!!db) << errorOf(db.takeError());
  int64_t hits = cuda::residentHits();
  int64_t in = fakeCopiedBytes(true);
  auto r = (*jit)->run("main", {dw->view(), db->view(), x.view()});
  ASSERT_TRUE(!!r) << errorOf(r.takeError());
  int64_t residentIn = fakeCopiedBytes(true) - in;
  // Each layer's w and bias slices.
  EXPECT_GE(cuda::residentHits() - hits, 6);
  check((*r)[0]);

  in = fakeCopiedBytes(true);
  auto h = (*jit)->run("main", {w.view(), bias.view(), x.view()});
  ASSERT_TRUE(!!h) << errorOf(h.takeError());
  int64_t hostIn = fakeCopiedBytes(true) - in;
  check((*h)[0]);
  if (in < 0)
    return; // a real driver: no byte counters
  EXPECT_EQ(residentIn, 3 * 6 * 2 * 4);
  EXPECT_EQ(hostIn, residentIn + 3 * (4 * 6 + 4 * 2) * 4);
}

} // namespace
