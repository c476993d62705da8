//===- ProgramBuilder.h - ssm programs of any shape, as text ----*- C++ -*-===//
//
// Test helper: writes the MLIR text of a one-op entry function for given
// shapes and options, so numerical tests can sweep shapes.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TEST_UNIT_PROGRAMBUILDER_H
#define SSMC_TEST_UNIT_PROGRAMBUILDER_H

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ssmc::test {

inline std::string tensorType(const std::vector<int64_t> &shape,
                              const std::string &elt, bool dynamic = false) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += (dynamic ? std::string("?") : std::to_string(d)) + "x";
  return s + elt + ">";
}

struct SelectiveScanConfig {
  int64_t batch = 1, channels = 1, seqLen = 1, stateSize = 1;
  int64_t groupsB = 0, groupsC = 0; // 0: [B, N, L]
  bool fixedB = false, fixedC = false; // [Dm, N] (groups ignored)
  std::vector<int64_t> seqIdx;         // non-empty: seq_idx [B, L] (i64)
  bool hasD = false, hasZ = false, hasBias = false, hasH0 = false;
  bool softplus = false, finalState = false;
  std::string elt = "f32";   // u, delta, z, B, C, out
  std::string param = "f32"; // A, D, delta_bias
  std::string delta;         // delta's type when it differs from elt (f32)
  bool dynamic = false;      // every dimension of every operand dynamic
  int64_t sequences = 0;     // > 0: packed with cu_seqlens (batch 1)
  double deltaLo = 0, deltaHi = 0; // range of delta; both 0: the default
};

inline std::string accumulatorOf(const std::string &elt) {
  return elt == "f64" ? "f64" : "f32";
}

/// `func.func @main(u, delta, A, B, C[, D][, z][, bias][, h0])`.
inline std::string selectiveScanProgram(const SelectiveScanConfig &c) {
  const std::string acc = accumulatorOf(c.elt);
  auto bcShape = [&](int64_t g, bool fixed) {
    if (fixed)
      return std::vector<int64_t>{c.channels, c.stateSize};
    return g ? std::vector<int64_t>{c.batch, g, c.stateSize, c.seqLen}
             : std::vector<int64_t>{c.batch, c.stateSize, c.seqLen};
  };
  std::vector<std::string> names = {"u", "dt", "A", "B", "C"};
  std::vector<std::string> types = {
      tensorType({c.batch, c.channels, c.seqLen}, c.elt, c.dynamic),
      tensorType({c.batch, c.channels, c.seqLen},
                 c.delta.empty() ? c.elt : c.delta, c.dynamic),
      tensorType({c.channels, c.stateSize}, c.param, c.dynamic),
      tensorType(bcShape(c.groupsB, c.fixedB), c.elt, c.dynamic),
      tensorType(bcShape(c.groupsC, c.fixedC), c.elt, c.dynamic)};
  std::string extra;
  auto add = [&](bool on, const std::string &name, const std::string &type,
                 const std::string &kw) {
    if (!on)
      return;
    names.push_back(name);
    types.push_back(type);
    extra += " " + kw + "(%" + name + ")";
  };
  add(c.hasD, "D", tensorType({c.channels}, c.param, c.dynamic), "D");
  add(c.hasZ, "z", tensorType({c.batch, c.channels, c.seqLen}, c.elt, c.dynamic), "z");
  add(c.hasBias, "bias", tensorType({c.channels}, c.param, c.dynamic), "delta_bias");
  const int64_t S = c.sequences ? c.sequences : c.batch;
  add(c.hasH0, "h0", tensorType({S, c.channels, c.stateSize}, acc, c.dynamic), "h0");
  add(c.sequences > 0, "cu", tensorType({c.sequences + 1}, "i64", c.dynamic), "cu_seqlens");
  add(!c.seqIdx.empty(), "seq", tensorType({c.batch, c.seqLen}, "i64", c.dynamic), "seq_idx");
  std::string outTy = tensorType({c.batch, c.channels, c.seqLen}, c.elt, c.dynamic);
  std::string fsTy = tensorType({S, c.channels, c.stateSize}, acc, c.dynamic);
  std::string results = c.finalState ? "(" + outTy + ", " + fsTy + ")" : outTy;

  std::string s = "func.func @main(";
  for (size_t i = 0; i < names.size(); ++i)
    s += (i ? ", %" : "%") + names[i] + ": " + types[i];
  s += ") -> " + results + " {\n  ";
  s += c.finalState ? "%y, %h" : "%y";
  s += " = ssm.selective_scan %u, %dt, %A, %B, %C" + extra;
  if (c.softplus)
    s += " delta_softplus";
  s += " : (";
  for (size_t i = 0; i < types.size(); ++i)
    s += (i ? ", " : "") + types[i];
  s += ") -> " + results + "\n  return ";
  s += c.finalState ? "%y, %h : " + outTy + ", " + fsTy : "%y : " + outTy;
  s += "\n}\n";
  return s;
}

struct LinearAttentionConfig {
  int64_t batch = 1, heads = 1, seqLen = 1, keyDim = 1, valueDim = 1;
  int gate = 0; // 0: none, 1: per step [B,H,L], 2: per key [B,H,L,K]
  bool weakGate = false; // log-gates in [-0.005, 0] rather than [-0.5, 0]
  bool hasH0 = false, finalState = false, normalize = false;
  std::string featureMap = "identity";
  double scale = -1; // < 0: attribute absent (K^-1/2)
  int64_t sequences = 0; // > 0: packed with cu_seqlens (batch must be 1)
  std::string elt = "f32";
  bool dynamic = false;
  // The normaliser's state in (z0) and out (final_z, after final_state);
  // right-to-left steps; eps < 0: attribute absent (1e-10).
  bool hasZ0 = false, finalZ = false, reverse = false;
  double eps = -1;
};

/// `func.func @main(q, k, v[, gate][, h0][, z0][, cu_seqlens])`.
inline std::string linearAttentionProgram(const LinearAttentionConfig &c) {
  const std::string acc = accumulatorOf(c.elt);
  const int64_t S = c.sequences ? c.sequences : c.batch;
  std::vector<std::string> names = {"q", "k", "v"};
  std::vector<std::string> types = {
      tensorType({c.batch, c.heads, c.seqLen, c.keyDim}, c.elt, c.dynamic),
      tensorType({c.batch, c.heads, c.seqLen, c.keyDim}, c.elt, c.dynamic),
      tensorType({c.batch, c.heads, c.seqLen, c.valueDim}, c.elt, c.dynamic)};
  std::string extra;
  auto add = [&](bool on, const std::string &name, const std::string &type,
                 const std::string &kw) {
    if (!on)
      return;
    names.push_back(name);
    types.push_back(type);
    extra += " " + kw + "(%" + name + ")";
  };
  add(c.gate == 1, "g", tensorType({c.batch, c.heads, c.seqLen}, acc, c.dynamic), "gate");
  add(c.gate == 2, "g", tensorType({c.batch, c.heads, c.seqLen, c.keyDim}, acc, c.dynamic), "gate");
  add(c.hasH0, "h0", tensorType({S, c.heads, c.keyDim, c.valueDim}, acc, c.dynamic), "h0");
  add(c.hasZ0, "z0", tensorType({S, c.heads, c.keyDim}, acc, c.dynamic), "z0");
  add(c.sequences > 0, "cu", tensorType({c.sequences + 1}, "i64", c.dynamic), "cu_seqlens");
  std::string outTy = tensorType({c.batch, c.heads, c.seqLen, c.valueDim}, c.elt, c.dynamic);
  std::string fsTy = tensorType({S, c.heads, c.keyDim, c.valueDim}, acc, c.dynamic);
  std::string fzTy = tensorType({S, c.heads, c.keyDim}, acc, c.dynamic);
  std::vector<std::string> resultNames = {"%o"}, resultTypes = {outTy};
  if (c.finalState)
    resultNames.push_back("%s"), resultTypes.push_back(fsTy);
  if (c.finalZ)
    resultNames.push_back("%z"), resultTypes.push_back(fzTy);
  std::string names_, types_;
  for (size_t i = 0; i < resultNames.size(); ++i) {
    names_ += (i ? ", " : "") + resultNames[i];
    types_ += (i ? ", " : "") + resultTypes[i];
  }
  std::string results =
      resultTypes.size() > 1 ? "(" + types_ + ")" : types_;
  std::string s = "func.func @main(";
  for (size_t i = 0; i < names.size(); ++i)
    s += (i ? ", %" : "%") + names[i] + ": " + types[i];
  s += ") -> " + results + " {\n  ";
  s += names_;
  s += " = ssm.linear_attention %q, %k, %v" + extra;
  if (c.normalize)
    s += " normalize";
  if (c.reverse)
    s += " reverse";
  std::string attrs = "feature_map = #ssm.feature_map<" + c.featureMap + ">";
  if (c.scale >= 0)
    attrs += ", scale = " + std::to_string(c.scale);
  if (c.eps >= 0) {
    char buf[64];
    snprintf(buf, sizeof buf, ", eps = %.17g : f64", c.eps);
    attrs += buf;
  }
  s += " {" + attrs + "} : (";
  for (size_t i = 0; i < types.size(); ++i)
    s += (i ? ", " : "") + types[i];
  s += ") -> " + results + "\n  return ";
  s += names_ + " : " + types_;
  s += "\n}\n";
  return s;
}

} // namespace ssmc::test

#endif // SSMC_TEST_UNIT_PROGRAMBUILDER_H
