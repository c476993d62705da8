//===- MgpuTest.cpp - the mgpu runtime over the fake driver ---------------===//
//
// runtime/cuda/Mgpu.cpp's host path, driven as generated code drives it
// (module load in a constructor, lookup and launch per call, errors taken
// after each run), over the fake driver: ctest runs this binary with
// LD_LIBRARY_PATH=<build>/test/fakecuda. Failures are injected with the
// fake's ssmcFakeCudaSetFailures. Kernels run through a hand-written twin;
// results are checked against a plain double loop.
//
//===----------------------------------------------------------------------===//

#include "HostTwin.h"
#include "MgpuRuntime.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

// The PTX text of a module with one kernel, scale(x, y, a, n): y = a * x.
// `tag` makes distinct images (distinct hashes) of the same kernel.
std::string scalePtx(const std::string &tag) {
  return "// " + tag + R"(
.version 8.0
.target sm_90
.address_size 64
.visible .entry scale(
	.param .u64 scale_param_0,
	.param .u64 scale_param_1,
	.param .f32 scale_param_2,
	.param .u32 scale_param_3
)
{
	ret;
}
)";
}

void scaleTwin(void **args) {
  const float *x = *static_cast<float **>(args[0]);
  float *y = *static_cast<float **>(args[1]);
  float a = *static_cast<float *>(args[2]);
  uint32_t n = *static_cast<uint32_t *>(args[3]);
  int64_t threads = *static_cast<int64_t *>(args[4]) *
                    *static_cast<int64_t *>(args[7]);
  for (int64_t i = 0; i < threads && i < n; ++i)
    y[i] = a * x[i];
}

struct Fake {
  void (*setFailures)(const char *) = nullptr;
  int64_t (*liveAllocations)() = nullptr;
  int64_t (*callCount)(const char *) = nullptr;
  int64_t (*syncCount)() = nullptr;
  int64_t (*raceCount)() = nullptr;
  int64_t (*pageableCopies)() = nullptr;
  int64_t (*misuseCount)() = nullptr;
  void (*setSharedOptIn)(int) = nullptr;
  int64_t (*kernelSharedLimit)(const char *) = nullptr;
};

const Fake &fake() {
  static Fake f = [] {
    Fake f;
    ssmcCudaLoadError(); // loads the driver
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (!lib)
      return f;
    f.setFailures = reinterpret_cast<void (*)(const char *)>(
        dlsym(lib, "ssmcFakeCudaSetFailures"));
    f.liveAllocations = reinterpret_cast<int64_t (*)()>(
        dlsym(lib, "ssmcFakeCudaLiveAllocations"));
    f.callCount = reinterpret_cast<int64_t (*)(const char *)>(
        dlsym(lib, "ssmcFakeCudaCallCount"));
    f.syncCount =
        reinterpret_cast<int64_t (*)()>(dlsym(lib, "ssmcFakeCudaSyncCount"));
    f.raceCount =
        reinterpret_cast<int64_t (*)()>(dlsym(lib, "ssmcFakeCudaRaceCount"));
    f.pageableCopies = reinterpret_cast<int64_t (*)()>(
        dlsym(lib, "ssmcFakeCudaPageableCopies"));
    f.misuseCount =
        reinterpret_cast<int64_t (*)()>(dlsym(lib, "ssmcFakeCudaMisuseCount"));
    f.setSharedOptIn = reinterpret_cast<void (*)(int)>(
        dlsym(lib, "ssmcFakeCudaSetSharedOptIn"));
    f.kernelSharedLimit = reinterpret_cast<int64_t (*)(const char *)>(
        dlsym(lib, "ssmcFakeCudaKernelSharedLimit"));
    return f;
  }();
  return f;
}

std::string takeError() {
  char text[8192];
  return ssmcCudaTakeError(text, sizeof text) ? text : "";
}

std::string takeLoadError() {
  char text[8192];
  return ssmcCudaTakeLoadError(text, sizeof text) ? text : "";
}

class Mgpu : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_STREQ(ssmcCudaLoadError(), "")
        << "run with LD_LIBRARY_PATH=<build>/test/fakecuda";
    ASSERT_EQ(ssmcCudaHostTwinsWanted(), 1) << "libcuda.so.1 is not the fake";
    ASSERT_NE(fake().setFailures, nullptr);
    ASSERT_NE(fake().pageableCopies, nullptr);
    ASSERT_NE(fake().misuseCount, nullptr);
    fake().setFailures("");
    takeError();
    takeLoadError();
  }

  /// Loads a module of scale() as generated code does, registering its
  /// twin first.
  void *loadScale(const std::string &tag) {
    std::string ptx = scalePtx(tag);
    ssmcCudaRegisterHostTwin(ssmcHostTwinImageHash(ptx.data(), ptx.size()),
                             "scale", scaleTwin);
    return mgpuModuleLoadJIT(const_cast<char *>(ptx.c_str()), 2);
  }

  /// One "program": y = a * x on the device, as generated host code runs
  /// it; the output (NaN where the kernel did not write).
  std::vector<float> runScale(void *module, const std::vector<float> &x,
                              float a, int32_t smem = 0) {
    size_t n = x.size(), bytes = n * sizeof(float);
    void *stream = mgpuStreamCreate();
    void *dx = mgpuMemAlloc(bytes, stream, false);
    void *dy = mgpuMemAlloc(bytes, stream, false);
    mgpuMemcpy(dx, const_cast<float *>(x.data()), bytes, stream);
    void *fn = mgpuModuleGetFunction(module, "scale");
    uint32_t count = static_cast<uint32_t>(n);
    void *params[] = {&dx, &dy, &a, &count};
    mgpuLaunchKernel(fn, (n + 127) / 128, 1, 1, 128, 1, 1, smem, stream,
                     params, nullptr, 4);
    std::vector<float> y(n, -7.0f);
    mgpuMemcpy(y.data(), dy, bytes, stream);
    mgpuStreamSynchronize(stream);
    mgpuMemFree(dx, stream);
    mgpuMemFree(dy, stream);
    mgpuStreamDestroy(stream);
    return y;
  }

  static std::vector<float> input(size_t n) {
    std::vector<float> x(n);
    for (size_t i = 0; i < n; ++i)
      x[i] = std::sin(0.1 * double(i)) * 3;
    return x;
  }

  static void expectScaled(const std::vector<float> &y,
                           const std::vector<float> &x, double a) {
    ASSERT_EQ(y.size(), x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      double want = a * double(x[i]);
      ASSERT_NEAR(y[i], want, 1e-6 * (1 + std::fabs(want))) << "element " << i;
    }
  }
};

TEST_F(Mgpu, RunsAKernelThroughItsTwin) {
  void *m = loadScale("plain");
  EXPECT_EQ(takeLoadError(), "");
  std::vector<float> x = input(300);
  std::vector<float> y = runScale(m, x, 1.5f);
  EXPECT_EQ(takeError(), "");
  expectScaled(y, x, 1.5);
  mgpuModuleUnload(m);
  EXPECT_EQ(takeError(), "");
}

// A failed module load is reported as a load error carrying the driver's
// JIT log, is not charged to a later run, and stops nothing else: a module
// loaded after it runs correctly.
TEST_F(Mgpu, AFailedLoadLeavesLaterModulesWorking) {
  fake().setFailures("cuModuleLoadDataEx:1");
  void *broken = loadScale("broken");
  std::string load = takeLoadError();
  EXPECT_NE(load.find("cuModuleLoadDataEx"), std::string::npos) << load;
  EXPECT_NE(load.find("(fake JIT) failure injected"), std::string::npos)
      << "the JIT log is missing: " << load;
  EXPECT_NE(load.find("scale"), std::string::npos)
      << "the module's kernels are not named: " << load;
  EXPECT_EQ(takeError(), "") << "a load error charged to the next run";

  void *good = loadScale("good");
  EXPECT_EQ(takeLoadError(), "");
  std::vector<float> x = input(257);
  std::vector<float> y = runScale(good, x, -2.0f);
  EXPECT_EQ(takeError(), "");
  expectScaled(y, x, -2.0);
  mgpuModuleUnload(good);
  mgpuModuleUnload(broken);
  EXPECT_EQ(takeError(), "");
}

// Launching a kernel of a module that failed to load is an error of that
// run, naming the kernel and the load error; the next run works.
TEST_F(Mgpu, LaunchFromAFailedModuleIsAnError) {
  fake().setFailures("cuModuleLoadDataEx:1");
  void *broken = loadScale("broken again");
  void *good = loadScale("good again");
  takeLoadError();
  std::vector<float> x = input(64);
  runScale(broken, x, 3.0f);
  std::string run = takeError();
  EXPECT_NE(run.find("'scale'"), std::string::npos) << run;
  EXPECT_NE(run.find("failure injected"), std::string::npos) << run;
  EXPECT_EQ(takeError(), "");
  std::vector<float> y = runScale(good, x, 3.0f);
  EXPECT_EQ(takeError(), "");
  expectScaled(y, x, 3.0);
  mgpuModuleUnload(good);
  mgpuModuleUnload(broken);
}

// A failed call stops the rest of its run (no launch on bad pointers) and
// is reported once; the next run starts clean.
TEST_F(Mgpu, AFailedRunDoesNotPoisonTheNext) {
  void *m = loadScale("runs");
  std::vector<float> x = input(100);
  fake().setFailures("cuLaunchKernel:1");
  std::vector<float> bad = runScale(m, x, 2.0f);
  std::string run = takeError();
  EXPECT_NE(run.find("cuLaunchKernel"), std::string::npos) << run;
  EXPECT_NE(run.find("'scale'"), std::string::npos) << run;
  std::vector<float> y = runScale(m, x, 2.0f);
  EXPECT_EQ(takeError(), "");
  expectScaled(y, x, 2.0);
  mgpuModuleUnload(m);
}

// A failed kernel lookup (no such .entry) is an error naming the kernel.
TEST_F(Mgpu, UnknownKernelIsAnError) {
  void *m = loadScale("lookup");
  void *fn = mgpuModuleGetFunction(m, "nope");
  int64_t one = 1;
  void *params[] = {&one};
  mgpuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, nullptr, params, nullptr, 1);
  std::string run = takeError();
  EXPECT_NE(run.find("'nope'"), std::string::npos) << run;
  EXPECT_NE(run.find("cuModuleGetFunction"), std::string::npos) << run;
  mgpuModuleUnload(m);
  EXPECT_EQ(takeError(), "");
}

// Device memory comes from a stream-ordered cache: a run that frees and
// allocates makes no synchronising driver call (cuMemFree is one), and a
// second run of the same sizes allocates nothing new.
TEST_F(Mgpu, RunsAllocateFromTheCacheWithoutSynchronising) {
  void *m = loadScale("cache");
  std::vector<float> x = input(1000);
  runScale(m, x, 0.5f); // fills the cache
  ASSERT_EQ(takeError(), "");
  fake().setFailures(""); // clears the call counts
  int64_t syncs = fake().syncCount();
  std::vector<float> y = runScale(m, x, 0.5f);
  EXPECT_EQ(takeError(), "");
  expectScaled(y, x, 0.5);
  EXPECT_EQ(fake().syncCount() - syncs, 1)
      << "only the run's own cuStreamSynchronize may synchronise";
  EXPECT_EQ(fake().callCount("cuMemAlloc_v2"), 0);
  EXPECT_EQ(fake().callCount("cuMemFree_v2"), 0);
  mgpuModuleUnload(m);
}

// A block freed on one stream and allocated on another is handed out only
// ordered after the free (the fake's race detector sees every access).
TEST_F(Mgpu, ReuseOnAnotherStreamIsOrderedAfterTheFree) {
  void *a = mgpuStreamCreate();
  void *b = mgpuStreamCreate();
  const size_t bytes = 3000 * sizeof(float);
  void *first = mgpuMemAlloc(bytes, a, false);
  mgpuMemset32(first, 0x3f800000u, 3000, a); // written on a
  mgpuMemFree(first, a);                     // no wait for a
  int64_t races = fake().raceCount();
  void *second = mgpuMemAlloc(bytes, b, false);
  EXPECT_EQ(second, first) << "the freed block was not reused";
  mgpuMemset32(second, 0x40000000u, 3000, b); // written on b
  EXPECT_EQ(fake().raceCount(), races)
      << "the block was reused on stream b before stream a's free";
  std::vector<float> host(3000);
  mgpuMemcpy(host.data(), second, bytes, b);
  mgpuStreamSynchronize(b);
  EXPECT_EQ(host[0], 2.0f);
  EXPECT_EQ(host[2999], 2.0f);
  mgpuMemFree(second, b);
  mgpuStreamSynchronize(a);
  mgpuStreamDestroy(a);
  mgpuStreamDestroy(b);
  EXPECT_EQ(takeError(), "");
}

// Under the fake driver a reused block is poisoned again, as a fresh one
// is: a kernel that forgets to write an element must not find the previous
// run's (perhaps identical) value there.
TEST_F(Mgpu, ReusedBlocksArePoisonedUnderTheFake) {
  void *s = mgpuStreamCreate();
  const size_t n = 700;
  void *first = mgpuMemAlloc(n * 4, s, false);
  mgpuMemset32(first, 0x3f800000u, n, s);
  mgpuMemFree(first, s);
  void *second = mgpuMemAlloc(n * 4, s, false);
  ASSERT_EQ(second, first);
  std::vector<uint32_t> host(n, 0);
  mgpuMemcpy(host.data(), second, n * 4, s);
  mgpuStreamSynchronize(s);
  for (size_t i = 0; i < n; ++i)
    ASSERT_EQ(host[i], 0xFFFFFFFFu) << "element " << i;
  mgpuMemFree(second, s);
  mgpuStreamDestroy(s);
  EXPECT_EQ(takeError(), "");
}

// Blocks of other sizes are not handed out for a request.
TEST_F(Mgpu, CachedBlocksMatchTheRequestedSize) {
  void *s = mgpuStreamCreate();
  void *small = mgpuMemAlloc(1024, s, false);
  mgpuMemFree(small, s);
  void *big = mgpuMemAlloc(1 << 20, s, false);
  EXPECT_NE(big, small);
  // The whole of a request is usable (the fake checks the bounds).
  std::vector<unsigned char> host(1 << 20, 7);
  mgpuMemcpy(big, host.data(), host.size(), s);
  mgpuStreamSynchronize(s);
  EXPECT_EQ(takeError(), "");
  mgpuMemFree(big, s);
  mgpuStreamDestroy(s);
}

// The staged copies of a run are asynchronous on its stream: the copy in
// goes through a pinned staging block (cuMemcpyHtoDAsync), the copy out
// into one (cuMemcpyDtoHAsync) and reaches the caller's buffer only at the
// run's one synchronisation (deferred copy-back); no copy makes the host
// wait (no pageable copy). Later runs reuse the staging blocks: no pinned
// allocation after the first run.
TEST_F(Mgpu, StagedCopiesArePinnedAsynchronousAndReused) {
  void *m = loadScale("pinned");
  const size_t n = 1500, bytes = n * sizeof(float);
  std::vector<float> x = input(n);
  int64_t misuses = fake().misuseCount(), races = fake().raceCount();
  for (int run = 0; run < 3; ++run) {
    fake().setFailures(""); // clears the call counts
    int64_t syncs = fake().syncCount(), pageable = fake().pageableCopies();
    void *stream = mgpuStreamCreate();
    void *dx = mgpuMemAlloc(bytes, stream, false);
    void *dy = mgpuMemAlloc(bytes, stream, false);
    mgpuMemcpy(dx, x.data(), bytes, stream);
    void *fn = mgpuModuleGetFunction(m, "scale");
    float a = 1.0f + run;
    uint32_t count = n;
    void *params[] = {&dx, &dy, &a, &count};
    mgpuLaunchKernel(fn, (n + 127) / 128, 1, 1, 128, 1, 1, 0, stream, params,
                     nullptr, 4);
    std::vector<float> y(n, -7.0f);
    mgpuMemcpy(y.data(), dy, bytes, stream);
    mgpuMemFree(dx, stream);
    mgpuMemFree(dy, stream);
    EXPECT_EQ(y[0], -7.0f) << "the result arrived before the run's wait";
    EXPECT_EQ(fake().syncCount(), syncs) << "a copy made the host wait";
    mgpuStreamSynchronize(stream);
    mgpuStreamDestroy(stream);
    EXPECT_EQ(takeError(), "");
    expectScaled(y, x, a);
    EXPECT_EQ(fake().syncCount() - syncs, 1) << "run " << run;
    EXPECT_EQ(fake().pageableCopies(), pageable) << "run " << run;
    EXPECT_EQ(fake().callCount("cuMemcpyHtoDAsync_v2"), 1);
    EXPECT_EQ(fake().callCount("cuMemcpyDtoHAsync_v2"), 1);
    EXPECT_EQ(fake().callCount("cuMemcpyAsync"), 0);
    if (run > 0)
      EXPECT_EQ(fake().callCount("cuMemAllocHost_v2"), 0)
          << "run " << run << " did not reuse the staging blocks";
  }
  EXPECT_EQ(fake().misuseCount(), misuses);
  EXPECT_EQ(fake().raceCount(), races);
  mgpuModuleUnload(m);
}

// One kernel's result read by the next kernel of the same run: the copy in
// of the host buffer whose copy back is still pending reads that copy's
// staging block (stream-ordered after it), so the second kernel sees the
// first one's result although the host buffer gets it only at the end; the
// run still waits once.
TEST_F(Mgpu, ACopyInOfAPendingResultReadsItsStagingBlock) {
  void *m = loadScale("chained");
  const size_t n = 777, bytes = n * sizeof(float);
  std::vector<float> x = input(n), y(n, -7.0f), z(n, -7.0f);
  int64_t syncs = fake().syncCount(), pageable = fake().pageableCopies();
  void *stream = mgpuStreamCreate();
  void *fn = mgpuModuleGetFunction(m, "scale");
  uint32_t count = n;
  auto scaleOnDevice = [&](void *out, const void *in, float a) {
    void *din = mgpuMemAlloc(bytes, stream, false);
    void *dout = mgpuMemAlloc(bytes, stream, false);
    mgpuMemcpy(din, const_cast<void *>(in), bytes, stream);
    void *params[] = {&din, &dout, &a, &count};
    mgpuLaunchKernel(fn, (n + 127) / 128, 1, 1, 128, 1, 1, 0, stream, params,
                     nullptr, 4);
    mgpuMemcpy(out, dout, bytes, stream);
    mgpuMemFree(din, stream);
    mgpuMemFree(dout, stream);
  };
  scaleOnDevice(y.data(), x.data(), 2.0f);
  scaleOnDevice(z.data(), y.data(), -3.0f); // y's copy back is pending
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  EXPECT_EQ(takeError(), "");
  expectScaled(y, x, 2.0);
  expectScaled(z, x, -6.0);
  EXPECT_EQ(fake().syncCount() - syncs, 1);
  EXPECT_EQ(fake().pageableCopies(), pageable);
  mgpuModuleUnload(m);
}

// A copy in of only part of a pending result, or a copy out into bytes
// another stream's pending copy writes, waits for that copy first: still
// right, at the cost of a wait.
TEST_F(Mgpu, OverlapsWithPendingCopiesWaitForThem) {
  void *m = loadScale("overlap");
  const size_t n = 512, bytes = n * sizeof(float);
  std::vector<float> x = input(n), y(n, -7.0f), z(n, -7.0f);
  void *s1 = mgpuStreamCreate(), *s2 = mgpuStreamCreate();
  void *fn = mgpuModuleGetFunction(m, "scale");
  void *dx = mgpuMemAlloc(bytes, s1, false);
  void *dy = mgpuMemAlloc(bytes, s1, false);
  mgpuMemcpy(dx, x.data(), bytes, s1);
  float a = 4.0f;
  uint32_t count = n;
  void *params[] = {&dx, &dy, &a, &count};
  mgpuLaunchKernel(fn, 4, 1, 1, 128, 1, 1, 0, s1, params, nullptr, 4);
  mgpuMemcpy(y.data(), dy, bytes, s1); // pending on s1
  // Half of y into a device buffer on s2: s1's copy lands first.
  void *dh = mgpuMemAlloc(bytes / 2, s2, false);
  mgpuMemcpy(dh, y.data() + n / 4, bytes / 2, s2);
  std::vector<float> half(n / 2, -7.0f);
  mgpuMemcpy(half.data(), dh, bytes / 2, s2);
  mgpuStreamSynchronize(s2);
  for (size_t i = 0; i < n / 2; ++i)
    ASSERT_FLOAT_EQ(half[i], 4.0f * x[i + n / 4]) << "element " << i;
  mgpuMemFree(dh, s2);
  mgpuMemFree(dx, s1);
  mgpuMemFree(dy, s1);
  mgpuStreamSynchronize(s1);
  mgpuStreamDestroy(s1);
  mgpuStreamDestroy(s2);
  EXPECT_EQ(takeError(), "");
  expectScaled(y, x, 4.0);
  mgpuModuleUnload(m);
}

// When no pinned memory can be had, the copies fall back to pageable ones
// (synchronous in the driver) and the results are still right; the run
// reports no error.
TEST_F(Mgpu, AFailedPinnedAllocationFallsBackToPageableCopies) {
  void *m = loadScale("fallback");
  // A size no other test stages, so that no cached staging block serves it.
  std::vector<float> x = input(9001);
  fake().setFailures("cuMemAllocHost_v2:*");
  int64_t pageable = fake().pageableCopies();
  std::vector<float> y = runScale(m, x, -1.25f);
  EXPECT_EQ(takeError(), "");
  expectScaled(y, x, -1.25);
  EXPECT_GE(fake().callCount("cuMemAllocHost_v2"), 1);
  EXPECT_EQ(fake().pageableCopies() - pageable, 2);
  fake().setFailures("");
  mgpuModuleUnload(m);
}

} // namespace

// A launch with more than 48 KB of dynamic shared memory opts the kernel in
// (cuFuncSetAttribute) before it, once per kernel; on a card whose opt-in
// maximum is lower the launch is an error naming both sizes, and nothing
// runs.
TEST_F(Mgpu, LargeDynamicSharedMemoryIsOptedIn) {
  ASSERT_NE(fake().setSharedOptIn, nullptr);
  ASSERT_NE(fake().kernelSharedLimit, nullptr);
  fake().setSharedOptIn(227 * 1024);
  void *m = loadScale("smem");
  std::vector<float> x = input(300);
  expectScaled(runScale(m, x, 2.5f, 100 * 1024), x, 2.5);
  EXPECT_EQ(takeError(), "");
  EXPECT_EQ(fake().callCount("cuFuncSetAttribute"), 1);
  EXPECT_EQ(fake().kernelSharedLimit("scale"), 100 * 1024);
  expectScaled(runScale(m, x, 1.5f, 100 * 1024), x, 1.5);
  EXPECT_EQ(fake().callCount("cuFuncSetAttribute"), 1);
  // Within 48 KB no opt-in is needed.
  expectScaled(runScale(m, x, 0.5f, 48 * 1024), x, 0.5);
  EXPECT_EQ(fake().callCount("cuFuncSetAttribute"), 1);
  mgpuModuleUnload(m);

  fake().setSharedOptIn(64 * 1024);
  void *small = loadScale("smem-small-card");
  std::vector<float> y = runScale(small, x, 2.0f, 100 * 1024);
  std::string run = takeError();
  EXPECT_NE(run.find("kernel 'scale' needs 102400 bytes of dynamic shared "
                     "memory per block; this card allows 65536"),
            std::string::npos)
      << run;
  EXPECT_NE(y[5], 2.0f * x[5]) << "the kernel ran";
  fake().setSharedOptIn(227 * 1024);
  mgpuModuleUnload(small);
}
