//===- ShapeError.h - run-time shape checks of compiled programs -*- C++ -*-===//
//
// A compiled ssm program whose shapes are only known at run time checks
// them on entry and calls ssmcShapeError(id, got, want) for a failed check,
// `id` indexing the module's `ssm.runtime_checks` messages; the program
// then runs on (its results are not meaningful). The hook keeps the first
// failure of the current call on this thread, where the JIT (which binds
// the program's ssmcShapeError to this function) and callers of
// ahead-of-time objects (which link it) read it after the call. The checks
// run on the calling thread, before any parallel region.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_RUNTIME_ABI_SHAPEERROR_H
#define SSMC_RUNTIME_ABI_SHAPEERROR_H

#include <cstdint>
#include <optional>

extern "C" {
/// Records the first failed run-time shape check of this thread.
void ssmcShapeError(int64_t id, int64_t got, int64_t want);
/// The same, under the name of its C interface wrapper.
void _mlir_ciface_ssmcShapeError(int64_t id, int64_t got, int64_t want);
/// The first failed check since the last call (id, got, want) and clears
/// it; 0 if none.
int ssmcTakeShapeError(int64_t out[3]);
}

namespace ssmc::abi {

/// A failed run-time shape check: which one, and the sizes it compared.
struct ShapeError {
  int64_t id = 0, got = 0, want = 0;
};

/// Forgets any failure this thread recorded (before a call).
void clearShapeError();
/// The first failure this thread recorded since clearShapeError(), if any,
/// and clears it.
std::optional<ShapeError> takeShapeError();

} // namespace ssmc::abi

#endif // SSMC_RUNTIME_ABI_SHAPEERROR_H
