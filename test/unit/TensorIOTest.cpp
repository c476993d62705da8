//===- TensorIOTest.cpp - .npy / .safetensors round trips and bad files ---===//

#include "ssmc/TensorIO.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

using namespace ssmc;

namespace {

std::string tempPath(const std::string &name) {
  llvm::SmallString<128> dir;
  llvm::sys::fs::createUniqueDirectory("ssmc-io", dir);
  return (dir + "/" + name).str();
}

std::string err(llvm::Error e) { return llvm::toString(std::move(e)); }

TEST(TensorIO, NpyRoundTripEveryDType) {
  for (DType dt : {DType::F16, DType::F32, DType::F64, DType::I1, DType::I8,
                   DType::I16, DType::I32, DType::I64}) {
    OwnedTensor t(dt, {2, 3, 5});
    for (int64_t i = 0; i < t.numel(); ++i)
      t.setFromDouble(i, dt == DType::I1 ? i % 2 : (i * 3) % 17 - 8);
    std::string path = tempPath("t.npy");
    ASSERT_FALSE(writeNpy(path, t.view()));
    auto back = readNpy(path);
    ASSERT_TRUE(static_cast<bool>(back)) << llvm::toString(back.takeError());
    EXPECT_EQ(back->dtype(), dt);
    EXPECT_EQ(back->shape(), t.shape());
    EXPECT_EQ(std::memcmp(back->data(), t.data(), t.sizeInBytes()), 0)
        << dtypeName(dt).str();
  }
}

TEST(TensorIO, NpyScalarsAndEmpty) {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{}, {0}, {7}, {3, 0, 2}}) {
    OwnedTensor t(DType::F32, shape);
    std::string path = tempPath("s.npy");
    ASSERT_FALSE(writeNpy(path, t.view()));
    auto back = readNpy(path);
    ASSERT_TRUE(static_cast<bool>(back)) << llvm::toString(back.takeError());
    EXPECT_EQ(back->shape(), shape);
  }
}

TEST(TensorIO, NpyRejectsLiesAndGarbage) {
  OwnedTensor t(DType::F32, {4, 4});
  std::string path = tempPath("x.npy");
  ASSERT_FALSE(writeNpy(path, t.view()));
  auto bytes = llvm::MemoryBuffer::getFile(path);
  ASSERT_TRUE(static_cast<bool>(bytes));
  std::string good = (*bytes)->getBuffer().str();

  auto parse = [](const std::string &b) { return parseNpy(b, "f.npy"); };
  auto expectError = [&](const std::string &b, const std::string &needle) {
    auto r = parse(b);
    ASSERT_FALSE(r);
    std::string msg = llvm::toString(r.takeError());
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  };
  expectError("", "bad magic");
  expectError(good.substr(0, good.size() - 1), "truncated: shape [4, 4] of f32 needs 64 bytes");
  std::string lying = good;
  lying.replace(lying.find("(4, 4)"), 6, "(9, 9)");
  expectError(lying, "needs 324 bytes");
  std::string huge = good;
  huge.replace(huge.find("(4, 4)"), 6, "(999999999999, 99999)");
  expectError(huge, "too large");
  std::string negative = good;
  negative.replace(negative.find("(4, 4)"), 6, "(-4, 4)");
  expectError(negative, "negative dimension");
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  expectError(fortran, "Fortran-order");
  std::string bigEndian = good;
  bigEndian.replace(bigEndian.find("<f4"), 3, ">f4");
  expectError(bigEndian, "unsupported dtype '>f4'");
  std::string longHeader = good;
  longHeader[8] = '\xff';
  longHeader[9] = '\x7f';
  expectError(longHeader, "runs past the end of the file");
}

TEST(TensorIO, SafetensorsRoundTripAndSpec) {
  OwnedTensor a(DType::BF16, {2, 3}), b(DType::I64, {4});
  for (int64_t i = 0; i < 6; ++i)
    a.setFromDouble(i, i - 2.5);
  for (int64_t i = 0; i < 4; ++i)
    b.setFromDouble(i, i * 1000000007LL);
  std::string path = tempPath("w.safetensors");
  ASSERT_FALSE(writeSafetensors(path, {{"a", a.view()}, {"b.weight", b.view()}}));
  auto all = readSafetensors(path);
  ASSERT_TRUE(static_cast<bool>(all)) << llvm::toString(all.takeError());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at("a").getAsDouble(5), 2.5);
  EXPECT_EQ(all->at("b.weight").getAsDouble(3), 3 * 1000000007.0);
  auto one = readTensorSpec(path + ":b.weight");
  ASSERT_TRUE(static_cast<bool>(one));
  EXPECT_EQ(one->shape(), std::vector<int64_t>{4});
  auto ambiguous = readTensorSpec(path);
  ASSERT_FALSE(ambiguous);
  EXPECT_NE(err(ambiguous.takeError()).find("holds 2 tensors"), std::string::npos);
  auto missing = readTensorSpec(path + ":c");
  ASSERT_FALSE(missing);
  EXPECT_NE(err(missing.takeError()).find("no tensor named 'c' (it has: a, b.weight)"),
            std::string::npos);
}

std::string safetensors(const std::string &header, size_t dataBytes) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out[i] = char((n >> (8 * i)) & 0xff);
  return out + header + std::string(dataBytes, '\0');
}

TEST(TensorIO, SafetensorsRejectsLiesAndGarbage) {
  auto expectError = [](const std::string &bytes, const std::string &needle) {
    auto r = parseSafetensors(bytes, "m.safetensors");
    ASSERT_FALSE(r);
    std::string msg = llvm::toString(r.takeError());
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  };
  expectError("abc", "shorter than its 8-byte header size");
  expectError(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", "runs past the end");
  expectError(safetensors("{not json", 0), "not valid JSON");
  expectError(safetensors(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
              "run past the data");
  expectError(safetensors(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
              "needs 12 bytes, data_offsets give 8");
  expectError(safetensors(R"({"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", 8),
              "unsupported dtype 'C64'");
  expectError(safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
              "tensors overlap");
  expectError(safetensors(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0),
              "negative dimension");
}

TEST(TensorIO, HalfAndBFloatConversions) {
  EXPECT_EQ(halfToFloat(floatToHalf(1.5f)), 1.5f);
  EXPECT_EQ(halfToFloat(floatToHalf(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(halfToFloat(floatToHalf(1e6f))));
  EXPECT_EQ(halfToFloat(floatToHalf(5.9604645e-08f)), 5.9604645e-08f); // smallest subnormal
  EXPECT_EQ(bf16ToFloat(floatToBf16(3.0f)), 3.0f);
  EXPECT_EQ(bf16ToFloat(floatToBf16(1.00390625f)), 1.0f); // ties to even
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(NAN))));
}

} // namespace

// Owned storage is zeroed and 64-byte aligned; from kHugePageBytes on it
// starts on a 2 MB boundary (a transparent huge page can back it whole).
TEST(TensorIO, OwnedStorageAlignment) {
  auto address = [](const OwnedTensor &t) {
    return reinterpret_cast<uintptr_t>(t.data());
  };
  OwnedTensor small(DType::F32, {3, 5});
  EXPECT_EQ(address(small) % 64, 0u);
  OwnedTensor empty(DType::F32, {0});
  EXPECT_NE(empty.data(), nullptr);
  int64_t n = int64_t(OwnedTensor::kHugePageBytes / 4);
  for (int64_t elems : {n - 16, n, n + 7}) {
    OwnedTensor t(DType::F32, {elems});
    uintptr_t at = address(t);
    if (elems * 4 >= int64_t(OwnedTensor::kHugePageBytes))
      EXPECT_EQ(at % OwnedTensor::kHugePageAlign, 0u) << elems;
    else
      EXPECT_EQ(at % 64, 0u) << elems;
    const float *v = t.as<float>();
    for (int64_t i = 0; i < elems; i += 4093)
      ASSERT_EQ(v[i], 0.0f) << i;
    EXPECT_EQ(v[elems - 1], 0.0f);
  }
}
