//===- DialectTest.cpp - the ssm dialect and cost model from C++ ----------===//
//
// Programs built from text through the C++ API: verification succeeds or
// fails with the documented message, and the cost model's numbers match
// counts derived by hand from the op's formula.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Dialect/SSM/SSMOps.h"
#include "ssmc/Dialect/SSM/Analysis/CostModel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {

class DialectTest : public ::testing::Test {
protected:
  DialectTest() {
    context.loadDialect<ssm::SSMDialect, func::FuncDialect,
                        arith::ArithDialect>();
  }

  /// Parses and verifies `source`; returns the module (null on failure) and
  /// collects every diagnostic message.
  OwningOpRef<ModuleOp> parse(StringRef source) {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      messages.push_back(diag.str());
      return success();
    });
    return parseSourceString<ModuleOp>(source, &context);
  }

  template <typename OpT> OpT first(ModuleOp module) {
    OpT found;
    module.walk([&](OpT op) { found = op; });
    return found;
  }

  MLIRContext context;
  std::vector<std::string> messages;
};

constexpr const char *kScan = R"mlir(
func.func @f(%u: tensor<2x8x16xf32>, %dt: tensor<2x8x16xf32>, %A: tensor<8x4xf32>,
             %B: tensor<2x4x16xf32>, %C: tensor<2x4x16xf32>, %D: tensor<8xf32>,
             %z: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x4xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_softplus
    : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<2x4x16xf32>,
       tensor<2x4x16xf32>, tensor<8xf32>, tensor<2x8x16xf32>)
    -> (tensor<2x8x16xf32>, tensor<2x8x4xf32>)
  return %y, %h : tensor<2x8x16xf32>, tensor<2x8x4xf32>
}
)mlir";

TEST_F(DialectTest, SelectiveScanParsesAndExposesItsSizes) {
  OwningOpRef<ModuleOp> module = parse(kScan);
  ASSERT_TRUE(module) << (messages.empty() ? "" : messages.front());
  auto op = first<ssm::SelectiveScanOp>(*module);
  ASSERT_TRUE(op);
  EXPECT_EQ(op.getBatchSize(), 2);
  EXPECT_EQ(op.getChannels(), 8);
  EXPECT_EQ(op.getSeqLen(), 16);
  EXPECT_EQ(op.getStateSize(), 4);
  EXPECT_TRUE(op.getDeltaSoftplus());
  EXPECT_TRUE(op.getFinalState());
  EXPECT_FALSE(op.getDeltaBias());
  EXPECT_TRUE(op.getAccumulatorType().isF32());
}

TEST_F(DialectTest, SelectiveScanCostMatchesHandCount) {
  OwningOpRef<ModuleOp> module = parse(kScan);
  ASSERT_TRUE(module);
  auto cost = ssmc::estimateCost(first<ssm::SelectiveScanOp>(*module));
  ASSERT_TRUE(cost);
  // State: B*Dm*N = 2*8*4 f32 values.
  EXPECT_EQ(*cost->stateElements, 64);
  EXPECT_EQ(*cost->stateBytes, 256);
  // Per channel and step: dt*u 1, softplus 1 (+2 transcendental), D 2,
  // gate 3 (+1), and 6 flops + 1 exp per state index.
  EXPECT_EQ(*cost->flopsPerToken, 2 * 8 * (1 + 1 + 2 + 3 + 6 * 4));
  EXPECT_EQ(*cost->transcendentalsPerToken, 2 * 8 * (2 + 1 + 4));
  // u, delta, z, out per channel + B and C per state index.
  EXPECT_EQ(*cost->bytesPerToken, 2 * 8 * 4 * 4 + 2 * 2 * 4 * 4);
  EXPECT_EQ(*cost->seqLen, 16);
  EXPECT_EQ(*cost->totalFlops(), 16 * *cost->flopsPerToken);
  // A, D and the final state are touched once.
  EXPECT_EQ(*cost->paramBytes, (8 * 4 + 8 + 2 * 8 * 4) * 4);
}

TEST_F(DialectTest, FixedBIsAParameterNotAStream) {
  // B fixed over time ([Dm, N]) next to a variable C: only C streams per
  // step; B's Dm * N values are read once, with A, D and the state; the
  // flops do not change. seq_idx counts as a parameter too.
  OwningOpRef<ModuleOp> module = parse(R"mlir(
func.func @f(%u: tensor<2x8x16xf32>, %A: tensor<8x4xf32>, %B: tensor<8x4xf32>,
             %C: tensor<2x4x16xf32>, %s: tensor<2x16xi32>) -> tensor<2x8x16xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %C seq_idx(%s)
    : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<8x4xf32>,
       tensor<2x4x16xf32>, tensor<2x16xi32>) -> tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}
)mlir");
  ASSERT_TRUE(module) << (messages.empty() ? "" : messages.front());
  auto op = first<ssm::SelectiveScanOp>(*module);
  ASSERT_TRUE(op && op.isFixedB() && !op.isFixedC());
  auto cost = ssmc::estimateCost(op);
  ASSERT_TRUE(cost);
  EXPECT_EQ(*cost->stateElements, 2 * 8 * 4);
  EXPECT_EQ(*cost->flopsPerToken, 2 * 8 * (1 + 6 * 4));
  // u, delta, out per channel + C per state index (not B).
  EXPECT_EQ(*cost->bytesPerToken, 2 * 8 * 3 * 4 + 2 * 1 * 4 * 4);
  // A, B (8 x 4 f32 each) and seq_idx (2 x 16 i32).
  EXPECT_EQ(*cost->paramBytes, (8 * 4 + 8 * 4) * 4 + 2 * 16 * 4);
}

TEST_F(DialectTest, DynamicDimensionsGiveUnknownCounts) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
func.func @f(%u: tensor<?x8x?xf32>, %A: tensor<8x4xf32>, %B: tensor<?x4x?xf32>)
    -> tensor<?x8x?xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
    : (tensor<?x8x?xf32>, tensor<?x8x?xf32>, tensor<8x4xf32>, tensor<?x4x?xf32>,
       tensor<?x4x?xf32>) -> tensor<?x8x?xf32>
  return %y : tensor<?x8x?xf32>
}
)mlir");
  ASSERT_TRUE(module);
  auto op = first<ssm::SelectiveScanOp>(*module);
  auto cost = ssmc::estimateCost(op);
  ASSERT_TRUE(cost);
  EXPECT_FALSE(cost->stateElements.has_value());
  EXPECT_FALSE(cost->seqLen.has_value());
  auto withLen = ssmc::estimateCost(op, /*seqLenOverride=*/100);
  EXPECT_EQ(*withLen->seqLen, 100);
}

TEST_F(DialectTest, VerifierNamesOperandAndExpectedShape) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
func.func @f(%u: tensor<2x8x16xf32>, %dt: tensor<2x8x15xf32>, %A: tensor<8x4xf32>,
             %B: tensor<2x4x16xf32>) -> tensor<2x8x16xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %B
    : (tensor<2x8x16xf32>, tensor<2x8x15xf32>, tensor<8x4xf32>, tensor<2x4x16xf32>,
       tensor<2x4x16xf32>) -> tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}
)mlir");
  EXPECT_FALSE(module);
  ASSERT_FALSE(messages.empty());
  EXPECT_NE(messages.front().find("operand 'delta' must have shape [B, Dm, L] "
                                  "= [2, 8, 16], got [2, 8, 15]"),
            std::string::npos)
      << messages.front();
}

TEST_F(DialectTest, ScanCostCountsCombinerOps) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
func.func @f(%a: tensor<3x10xf32>, %b: tensor<3x10xf32>) -> tensor<3x10xf32> {
  %p, %h = ssm.scan %a, %b axis = 1
    : (tensor<3x10xf32>, tensor<3x10xf32>) -> (tensor<3x10xf32>, tensor<3x10xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %0 = arith.mulf %a1, %a2 : f32
    %1 = arith.mulf %a2, %b1 : f32
    %2 = arith.addf %1, %b2 : f32
    ssm.yield %0, %2 : f32, f32
  }
  return %h : tensor<3x10xf32>
}
)mlir");
  ASSERT_TRUE(module) << (messages.empty() ? "" : messages.front());
  auto cost = ssmc::estimateCost(first<ssm::ScanOp>(*module));
  ASSERT_TRUE(cost);
  EXPECT_EQ(*cost->seqLen, 10);
  EXPECT_EQ(*cost->stateElements, 3 * 2); // 3 lanes, 2 scanned values
  EXPECT_EQ(*cost->flopsPerToken, 3 * 3);
  EXPECT_EQ(*cost->bytesPerToken, 3 * 2 * 4 * 2);
}

// Every op that carries state along a sequence answers SequenceOpInterface;
// the expected shapes are the layouts of the op definitions, worked out by
// hand for these operand shapes.
constexpr const char *kSequenceOps = R"mlir(
func.func @f(%x: tensor<2x16x4x8xbf16>, %dt: tensor<2x16x4xbf16>, %A: tensor<4xf32>, %B: tensor<2x16x1x6xbf16>,
             %q: tensor<2x3x5x4xf64>, %v: tensor<2x3x5x7xf64>,
             %cx: tensor<2x8x16xf32>, %w: tensor<8x4xf32>,
             %aq: tensor<1x4x9x16xf32>, %ak: tensor<1x2x9x16xf32>, %av: tensor<1x2x9x32xf32>,
             %sq: tensor<1x4x16xf32>, %sk: tensor<1x1x16xf32>, %cache: tensor<1x1x?x16xf32>, %pos: index,
             %lq: tensor<2x3x4xbf16>, %lv: tensor<2x3x5xbf16>, %ls: tensor<2x3x4x5xf32>) {
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<2x16x4x8xbf16>, tensor<2x16x4xbf16>, tensor<4xf32>, tensor<2x16x1x6xbf16>, tensor<2x16x1x6xbf16>) -> tensor<2x16x4x8xbf16>
  %o = ssm.linear_attention %q, %q, %v : (tensor<2x3x5x4xf64>, tensor<2x3x5x4xf64>, tensor<2x3x5x7xf64>) -> tensor<2x3x5x7xf64>
  %c = ssm.causal_conv1d %cx, %w : (tensor<2x8x16xf32>, tensor<8x4xf32>) -> tensor<2x8x16xf32>
  %a = ssm.attention %aq, %ak, %av causal : (tensor<1x4x9x16xf32>, tensor<1x2x9x16xf32>, tensor<1x2x9x32xf32>) -> tensor<1x4x9x32xf32>
  %so, %k1, %v1 = ssm.attention_step %sq, %sk, %sk, %cache, %cache, %pos
      : (tensor<1x4x16xf32>, tensor<1x1x16xf32>, tensor<1x1x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>, index)
      -> (tensor<1x4x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>)
  %lo, %ls1 = ssm.linear_attention_step %lq, %lq, %lv, %ls {feature_map = #ssm.feature_map<relu>}
      : (tensor<2x3x4xbf16>, tensor<2x3x4xbf16>, tensor<2x3x5xbf16>, tensor<2x3x4x5xf32>)
      -> (tensor<2x3x5xbf16>, tensor<2x3x4x5xf32>)
  return
}
)mlir";

TEST_F(DialectTest, SequenceOpsDescribeTheirState) {
  OwningOpRef<ModuleOp> module = parse(kSequenceOps);
  ASSERT_TRUE(module) << (messages.empty() ? "" : messages.front());
  const int64_t dyn = ShapedType::kDynamic;
  struct Want {
    const char *op;
    SmallVector<int64_t> state;
    bool f64, step;
    const char *paired;
  };
  std::vector<Want> want = {
      {"ssm.ssd", {2, 4, 8, 6}, false, false, "ssm.ssd_step"},
      {"ssm.linear_attention", {2, 3, 4, 7}, true, false, "ssm.linear_attention_step"},
      {"ssm.causal_conv1d", {2, 8, 3}, false, false, "ssm.causal_conv1d_step"},
      {"ssm.attention", {1, 2, 9, 48}, false, false, "ssm.attention_step"},
      {"ssm.attention_step", {1, 1, dyn, 32}, false, true, "ssm.attention"},
      {"ssm.linear_attention_step", {2, 3, 4, 5}, false, true, "ssm.linear_attention"},
  };
  std::vector<ssm::SequenceOpInterface> ops;
  module->walk([&](ssm::SequenceOpInterface op) { ops.push_back(op); });
  ASSERT_EQ(ops.size(), want.size());
  for (auto [op, w] : llvm::zip(ops, want)) {
    SCOPED_TRACE(w.op);
    EXPECT_EQ(op->getName().getStringRef(), w.op);
    EXPECT_EQ(op.getStateShape(), w.state);
    EXPECT_EQ(op.getAccumulatorType().isF64(), w.f64);
    EXPECT_EQ(op.getAccumulatorType().isF32(), !w.f64); // bf16 accumulates in f32
    EXPECT_EQ(op.isDecodeStep(), w.step);
    EXPECT_EQ(op.getPairedOpName(), w.paired);
  }
  // Ops without recurrent state do not implement the interface.
  module->walk([&](func::ReturnOp ret) {
    EXPECT_FALSE(isa<ssm::SequenceOpInterface>(ret.getOperation()));
  });
}

TEST_F(DialectTest, FeatureMapAndDPOutputAreEnums) {
  OwningOpRef<ModuleOp> module = parse(kSequenceOps);
  ASSERT_TRUE(module);
  auto step = first<ssm::LinearAttentionStepOp>(*module);
  EXPECT_EQ(step.getFeatureMap(), ssm::FeatureMap::relu);
  EXPECT_EQ(first<ssm::LinearAttentionOp>(*module).getFeatureMap(),
            ssm::FeatureMap::identity); // the default
  EXPECT_EQ(ssm::symbolizeDPOutput("last_row"), ssm::DPOutput::last_row);
  EXPECT_FALSE(ssm::symbolizeFeatureMap("softmax").has_value());
}

} // namespace
