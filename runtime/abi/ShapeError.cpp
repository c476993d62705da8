//===- ShapeError.cpp - the ssmcShapeError hook and its state -------------===//

#include "runtime/abi/ShapeError.h"

namespace {
thread_local bool shapeErrorSet = false;
thread_local ssmc::abi::ShapeError shapeError;
} // namespace

extern "C" {

void ssmcShapeError(int64_t id, int64_t got, int64_t want) {
  if (shapeErrorSet)
    return;
  shapeErrorSet = true;
  shapeError = {id, got, want};
}

void _mlir_ciface_ssmcShapeError(int64_t id, int64_t got, int64_t want) {
  ssmcShapeError(id, got, want);
}

int ssmcTakeShapeError(int64_t out[3]) {
  std::optional<ssmc::abi::ShapeError> e = ssmc::abi::takeShapeError();
  if (!e)
    return 0;
  out[0] = e->id, out[1] = e->got, out[2] = e->want;
  return 1;
}

} // extern "C"

namespace ssmc::abi {

void clearShapeError() { shapeErrorSet = false; }

std::optional<ShapeError> takeShapeError() {
  if (!shapeErrorSet)
    return std::nullopt;
  shapeErrorSet = false;
  return shapeError;
}

} // namespace ssmc::abi
