//===- InitAll.h - what every ssmc tool registers ---------------*- C++ -*-===//
//
// One registration entry point for ssmc-opt, the JIT and the fuzzers, so
// that a program and a pass pipeline mean the same thing in each of them.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_INITALL_H
#define SSMC_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace ssmc {

/// The ssm dialect, every upstream dialect and its extensions, and the
/// translations to LLVM IR (the JIT and gpu-module-to-binary translate
/// through them).
void registerAllDialects(mlir::DialectRegistry &registry);

/// Every upstream pass, every ssmc pass and the ssm-*-pipeline pipelines
/// (so that textual pipelines can name any of them). Only the first call
/// registers (a pipeline name may be registered once per process).
void registerAllPasses();

} // namespace ssmc

#endif // SSMC_INITALL_H
