//===- ProgramReportTest.cpp - ssmc::reportProgram against hand counts ----===//
//
// Each expected number is counted by hand from the op's definition and the
// counting rules of docs/cost-model.md, not read back from the
// implementation.
//
//===----------------------------------------------------------------------===//

#include "ssmc/ProgramReport.h"

#include <gtest/gtest.h>

using namespace ssmc;

namespace {

// A Mamba-1 scan (B = 2, D = 8 channels, N = 4, L = 16, f32, with D, z and
// softplus) and an edit-distance DP whose sizes are the lengths of x and y.
const char *kProgram = R"mlir(
func.func @mamba(%u: tensor<2x8x16xf32>, %dt: tensor<2x8x16xf32>, %A: tensor<8x4xf32>,
                 %B: tensor<2x4x16xf32>, %C: tensor<2x4x16xf32>, %D: tensor<8xf32>,
                 %z: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x4xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_softplus
      : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<2x4x16xf32>,
         tensor<2x4x16xf32>, tensor<8xf32>, tensor<2x8x16xf32>)
      -> (tensor<2x8x16xf32>, tensor<2x8x4xf32>)
  return %y, %h : tensor<2x8x16xf32>, tensor<2x8x4xf32>
}

func.func @edit(%x: tensor<?xi64>, %y: tensor<?xi64>) -> tensor<i64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xi64>
  %m = tensor.dim %y, %c0 : tensor<?xi64>
  %d = ssm.dp [%n, %m] inputs(%x, %y : tensor<?xi64>, tensor<?xi64>)
      {deps = [array<i64: -1, 0>, array<i64: 0, -1>, array<i64: -1, -1>],
       input_dims = array<i64: 0, 1>, output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index, %up: i64, %left: i64, %diag: i64, %xi: i64, %yj: i64):
      %a = arith.minsi %up, %left : i64
      %r = arith.minsi %a, %diag : i64
      ssm.yield %r : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      %zero = arith.constant 0 : i64
      ssm.yield %zero : i64
    }
  return %d : tensor<i64>
}
)mlir";

TEST(ProgramReport, SelectiveScanCounts) {
  auto ops = reportProgram(kProgram, /*seqLen=*/-1, "program.mlir");
  ASSERT_TRUE(static_cast<bool>(ops)) << llvm::toString(ops.takeError());
  ASSERT_EQ(ops->size(), 2u);
  const OpReport &scan = (*ops)[0];
  EXPECT_EQ(scan.op, "ssm.selective_scan");
  EXPECT_EQ(scan.location, "program.mlir:5:12");
  EXPECT_FALSE(scan.dp);
  EXPECT_EQ(scan.accumulatorType, "f32");
  EXPECT_EQ(scan.seqLen, 16);
  // One N-vector per batch and channel: 2 * 8 * 4, in f32.
  EXPECT_EQ(scan.stateElements, 64);
  EXPECT_EQ(scan.stateBytes, 256);
  // Per channel: dt*u 1, softplus 1, D skip 2, z gate 3, and per state
  // index exp(dt*A) 1 + h update 3 + C*h 2 = 6: 7 + 6 * 4 = 31 flops on
  // 2 * 8 channels. Transcendentals: softplus 2, gate 1, exp per index 4.
  EXPECT_EQ(scan.flopsPerToken, 2 * 8 * 31);
  EXPECT_EQ(scan.transcendentalsPerToken, 2 * 8 * 7);
  // u, dt, out, z per channel (4 streams of 4 bytes), B and C N-vectors
  // per batch.
  EXPECT_EQ(scan.bytesPerToken, 2 * 8 * 4 * 4 + 2 * 2 * 4 * 4);
  // A [8,4] + D [8] + the final state [2,8,4], f32.
  EXPECT_EQ(scan.paramBytes, (32 + 8 + 64) * 4);
  EXPECT_EQ(scan.totalFlops, 16 * 496);
  EXPECT_EQ(scan.totalTranscendentals, 16 * 112);
  EXPECT_EQ(scan.totalBytes, 16 * 320 + 416);
}

TEST(ProgramReport, DPWindowAtAGivenSize) {
  auto ops = reportProgram(kProgram, /*seqLen=*/10);
  ASSERT_TRUE(static_cast<bool>(ops)) << llvm::toString(ops.takeError());
  ASSERT_EQ(ops->size(), 2u);
  // The length replaces the scan's static one too, as the pass's seq-len.
  EXPECT_EQ((*ops)[0].seqLen, 10);
  EXPECT_EQ((*ops)[0].totalFlops, 10 * 496);
  const OpReport &edit = (*ops)[1];
  EXPECT_EQ(edit.op, "ssm.dp");
  ASSERT_TRUE(edit.dp);
  const DPReport &dp = *edit.dp;
  EXPECT_EQ(dp.rank, 2);
  EXPECT_FALSE(dp.prefix);
  ASSERT_EQ(dp.sizes.size(), 2u);
  EXPECT_EQ(dp.sizes[0], 10);
  EXPECT_EQ(dp.sizes[1], 10);
  EXPECT_EQ(dp.cellType, "i64");
  // Emitted row by row, cell (i, j) reads (i-1, j-1), T2 + 1 cells back.
  EXPECT_EQ(dp.windowText, "m = T2 + 1 cells");
  EXPECT_EQ(dp.window, 11);
  EXPECT_EQ(dp.rowsBack, 1);
  EXPECT_EQ(dp.cotStateElements, 11);
  EXPECT_EQ(dp.cotStateBytes, 11 * 8);
  EXPECT_EQ(dp.cells, 100);
  EXPECT_EQ(dp.work, 100);
  // Diagonal dependencies: anti-diagonals of up to min(T1, T2) cells, the
  // two before the current one kept (the diagonal dep is two back).
  EXPECT_EQ(dp.schedule, "anti-diagonal wavefronts");
  EXPECT_EQ(dp.wavefrontWidth, 10);
  EXPECT_EQ(dp.storedCells, 3 * 10);
  EXPECT_FALSE(edit.stateElements);
  EXPECT_FALSE(edit.totalFlops);
}

TEST(ProgramReport, DynamicSizesAreUnknown) {
  auto ops = reportProgram(kProgram);
  ASSERT_TRUE(static_cast<bool>(ops)) << llvm::toString(ops.takeError());
  ASSERT_EQ(ops->size(), 2u);
  const DPReport &dp = *(*ops)[1].dp;
  EXPECT_EQ(dp.windowText, "m = T2 + 1 cells");
  EXPECT_FALSE(dp.sizes[0]);
  EXPECT_FALSE(dp.window);
  EXPECT_FALSE(dp.cells);
  EXPECT_FALSE(dp.cotStateBytes);
}

TEST(ProgramReport, InvalidProgramIsAnError) {
  auto ops = reportProgram("func.func @f() { ssm.nonsense }", -1, "bad.mlir");
  ASSERT_FALSE(static_cast<bool>(ops));
  std::string message = llvm::toString(ops.takeError());
  EXPECT_NE(message.find("bad.mlir: invalid program"), std::string::npos)
      << message;
  EXPECT_NE(message.find("bad.mlir:1:"), std::string::npos) << message;
}

TEST(ProgramReport, ProgramWithoutSSMOpsIsEmpty) {
  auto ops = reportProgram("func.func @f(%a: f32) -> f32 { return %a : f32 }");
  ASSERT_TRUE(static_cast<bool>(ops)) << llvm::toString(ops.takeError());
  EXPECT_TRUE(ops->empty());
}

} // namespace
