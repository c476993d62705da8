//===- Rewrite.h - run an ssmc-opt pipeline on program text -----*- C++ -*-===//
//
// Test helper: parses `source`, runs the textual pass `pipeline` (any ssmc
// or upstream pass) and returns the printed result, so a test can compile
// both the original and the rewritten program and compare their numbers.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TEST_UNIT_REWRITE_H
#define SSMC_TEST_UNIT_REWRITE_H

#include "ssmc/Passes.h"

#include "ssmc/Dialect/SSM/SSMDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <gtest/gtest.h>

#include <string>

namespace ssmc::test {

inline std::string rewrite(const std::string &source,
                           const std::string &pipeline) {
  static const bool registered = [] {
    mlir::registerAllPasses();
    ssmc::registerSSMCPasses();
    return true;
  }();
  (void)registered;
  mlir::DialectRegistry registry;
  registry.insert<mlir::ssm::SSMDialect>();
  mlir::registerAllDialects(registry);
  mlir::MLIRContext ctx(registry);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(source, &ctx);
  EXPECT_TRUE(module);
  if (!module)
    return source;
  mlir::PassManager pm(&ctx);
  EXPECT_TRUE(mlir::succeeded(mlir::parsePassPipeline(pipeline, pm)));
  EXPECT_TRUE(mlir::succeeded(pm.run(*module)));
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return text;
}

} // namespace ssmc::test

#endif // SSMC_TEST_UNIT_REWRITE_H
