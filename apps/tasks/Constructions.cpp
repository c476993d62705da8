//===- Constructions.cpp - the ssm programs of the theory tasks -----------===//

#include "Constructions.h"

#include "llvm/ADT/StringExtras.h"

#include <cstring>

namespace ssmc::tasks::detail {

namespace {
/// Replaces every "$name" in `text` with its value.
std::string substitute(std::string text,
                       std::initializer_list<std::pair<const char *, std::string>> vars) {
  for (auto [name, value] : vars) {
    std::string key = std::string("$") + name;
    for (size_t at = text.find(key); at != std::string::npos;
         at = text.find(key, at + value.size()))
      text.replace(at, key.size(), value);
  }
  return text;
}
} // namespace

std::string keyedStoreProgram(const std::string &elt) {
  return substitute(R"mlir(
func.func @store(%q: tensor<?x1x?x?x$T>, %k: tensor<?x1x?x?x$T>,
                 %v: tensor<?x1x?x?x$T>, %residual: tensor<?x1x?x?x$T>,
                 %g: tensor<?x1x?xf32>) -> tensor<?x1x?x?x$T> {
  %o = ssm.linear_attention %q, %k, %v gate(%g) {scale = 1.0}
      : (tensor<?x1x?x?x$T>, tensor<?x1x?x?x$T>, tensor<?x1x?x?x$T>, tensor<?x1x?xf32>)
      -> tensor<?x1x?x?x$T>
  %r = arith.addf %o, %residual : tensor<?x1x?x?x$T>
  return %r : tensor<?x1x?x?x$T>
}
)mlir",
                    {{"T", elt}});
}

std::string deltaStoreProgram() {
  return R"mlir(
func.func @delta(%q: tensor<?x?x1x?xf32>, %k: tensor<?x?x1x?xf32>,
                 %v: tensor<?x?x1x?xf32>, %beta: tensor<?x?x1xf32>)
    -> tensor<?x?x1x?xf32> {
  %o = ssm.delta_rule %q, %k, %v beta(%beta) {scale = 1.0 : f64}
      : (tensor<?x?x1x?xf32>, tensor<?x?x1x?xf32>, tensor<?x?x1x?xf32>, tensor<?x?x1xf32>)
      -> tensor<?x?x1x?xf32>
  return %o : tensor<?x?x1x?xf32>
}
)mlir";
}

std::string attentionProgram() {
  return R"mlir(
func.func @attend(%q: tensor<?x1x?x?xf32>, %k: tensor<?x1x?x?xf32>,
                  %v: tensor<?x1x?x?xf32>) -> tensor<?x1x?x?xf32> {
  %o = ssm.attention %q, %k, %v {scale = 1.0}
      : (tensor<?x1x?x?xf32>, tensor<?x1x?x?xf32>, tensor<?x1x?x?xf32>) -> tensor<?x1x?x?xf32>
  return %o : tensor<?x1x?x?xf32>
}
)mlir";
}

std::string cotStepProgram() {
  return R"mlir(
func.func @step(%state: tensor<1x1x?x?xf32>, %k: tensor<1x1x?xf32>,
                %v: tensor<1x1x?xf32>, %g: tensor<1x1xf32>,
                %qs: tensor<1x1x?x?xf32>, %zk: tensor<1x1x?x?xf32>,
                %zv: tensor<1x1x?x?xf32>)
    -> (tensor<1x1x?x?xf32>, tensor<1x1x?x?xf32>) {
  %o, %written = ssm.linear_attention_step %k, %k, %v, %state gate(%g) {scale = 1.0}
      : (tensor<1x1x?xf32>, tensor<1x1x?xf32>, tensor<1x1x?xf32>, tensor<1x1x?x?xf32>,
         tensor<1x1xf32>) -> (tensor<1x1x?xf32>, tensor<1x1x?x?xf32>)
  %reads, %same = ssm.linear_attention %qs, %zk, %zv h0(%written) {scale = 1.0}
      : (tensor<1x1x?x?xf32>, tensor<1x1x?x?xf32>, tensor<1x1x?x?xf32>, tensor<1x1x?x?xf32>)
      -> (tensor<1x1x?x?xf32>, tensor<1x1x?x?xf32>)
  return %reads, %written : tensor<1x1x?x?xf32>, tensor<1x1x?x?xf32>
}
)mlir";
}

std::string recurrentStepProgram(int64_t N, int64_t V) {
  return substitute(R"mlir(
func.func @decode(%q: tensor<1x1x$Nxf32>, %k: tensor<1x1x$Nxf32>,
                  %v: tensor<1x1x$Vxf32>, %state: tensor<1x1x$Nx$Vxf32>)
    -> (tensor<1x1x$Vxf32>, tensor<1x1x$Nx$Vxf32>) {
  %o, %s = ssm.linear_attention_step %q, %k, %v, %state {scale = 1.0}
      : (tensor<1x1x$Nxf32>, tensor<1x1x$Nxf32>, tensor<1x1x$Vxf32>, tensor<1x1x$Nx$Vxf32>)
      -> (tensor<1x1x$Vxf32>, tensor<1x1x$Nx$Vxf32>)
  return %o, %s : tensor<1x1x$Vxf32>, tensor<1x1x$Nx$Vxf32>
}
)mlir",
                    {{"N", std::to_string(N)}, {"V", std::to_string(V)}});
}

std::string attentionStepProgram(int64_t C, int64_t d, int64_t V, bool ring) {
  return substitute(R"mlir(
func.func @decode(%q: tensor<1x1x$dxf32>, %k: tensor<1x1x$dxf32>,
                  %v: tensor<1x1x$Vxf32>, %kc: tensor<1x1x$Cx$dxf32>,
                  %vc: tensor<1x1x$Cx$Vxf32>, %pos: index)
    -> (tensor<1x1x$Vxf32>, tensor<1x1x$Cx$dxf32>, tensor<1x1x$Cx$Vxf32>) {
  %o, %k1, %v1 = ssm.attention_step %q, %k, %v, %kc, %vc, %pos $ATTRS
      : (tensor<1x1x$dxf32>, tensor<1x1x$dxf32>, tensor<1x1x$Vxf32>,
         tensor<1x1x$Cx$dxf32>, tensor<1x1x$Cx$Vxf32>, index)
      -> (tensor<1x1x$Vxf32>, tensor<1x1x$Cx$dxf32>, tensor<1x1x$Cx$Vxf32>)
  return %o, %k1, %v1 : tensor<1x1x$Vxf32>, tensor<1x1x$Cx$dxf32>, tensor<1x1x$Cx$Vxf32>
}
)mlir",
                    {{"ATTRS", ring ? "{ring}" : ""},
                     {"C", std::to_string(C)},
                     {"d", std::to_string(d)},
                     {"V", std::to_string(V)}});
}

llvm::Expected<std::unique_ptr<Jit>> compileModel(const std::string &source,
                                                  const std::string &what,
                                                  const RunOptions &options) {
  JitOptions jo;
  jo.target = options.target;
  jo.threads = options.threads;
  jo.cacheDir = options.cacheDir;
  auto jit = Jit::compile(source, jo, what);
  if (!jit)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "compiling the " + what + " model: " +
                                       llvm::toString(jit.takeError()));
  return jit;
}

void fill(OwnedTensor &t, float v) {
  if (t.dtype() == DType::F32) {
    std::fill(t.as<float>(), t.as<float>() + t.numel(), v);
    return;
  }
  uint16_t b = floatToBf16(v);
  std::fill(t.as<uint16_t>(), t.as<uint16_t>() + t.numel(), b);
}

float at(const OwnedTensor &t, int64_t i) {
  return t.dtype() == DType::F32 ? t.as<float>()[i]
                                 : bf16ToFloat(t.as<uint16_t>()[i]);
}

void set(OwnedTensor &t, int64_t i, float v) {
  if (t.dtype() == DType::F32)
    t.as<float>()[i] = v;
  else
    t.as<uint16_t>()[i] = floatToBf16(v);
}

} // namespace ssmc::tasks::detail
