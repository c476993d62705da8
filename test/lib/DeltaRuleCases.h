//===- DeltaRuleCases.h - delta-rule test programs and checks --*- C++ -*-===//
//
// What the delta-rule tests on every target share: a case's shape and
// form (DeltaConfig, cfg), the ssm.delta_rule program for it, random
// inputs with the double-precision problem they pose (makeInputs), running
// a program on a target, and checking its results against
// ssmc::ref::deltaRule (expectMatches: f32 within 1e-4 * max(1, max|ref|);
// bf16/f16 within twice the error of storing the exact result in that
// type, and 1e-2 relative).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TEST_LIB_DELTARULECASES_H
#define SSMC_TEST_LIB_DELTARULECASES_H

#include "test/lib/Reference.h"
#include "test/lib/RunProgram.h"
#include "test/unit/ProgramBuilder.h"

#include "ssmc/Jit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace ssmc::test::delta_rule {

enum class Form { DeltaNet, Gated, KDA, DPLR };

struct DeltaConfig {
  int64_t batch = 1, seqLen = 1, keyHeads = 1, heads = 1, keyDim = 1,
          valueDim = 1;
  Form form = Form::Gated;
  bool l2norm = false, hasH0 = false, finalState = false;
  double scale = -1;     ///< < 0: the op's default
  int64_t chunk = -1;    ///< < 0: no chunk_size attribute
  int64_t sequences = 0; ///< > 0: packed with cu_seqlens (batch 1)
  bool weakGate = false; ///< log decays in [-0.005, 0] instead of [-0.5, 0]
  bool dynamic = false;  ///< every dimension of every operand dynamic
  std::string elt = "f32";
};

/// `func.func @main(q, k, v, beta | a, b [, gate] [, h0] [, cu])`.
inline std::string program(const DeltaConfig &c) {
  const std::string acc = test::accumulatorOf(c.elt);
  auto tensorType = [&](const std::vector<int64_t> &shape,
                        const std::string &elt) {
    return test::tensorType(shape, elt, c.dynamic);
  };
  const int64_t S = c.sequences ? c.sequences : c.batch;
  std::string qk = tensorType({c.batch, c.seqLen, c.keyHeads, c.keyDim}, c.elt);
  std::string vt = tensorType({c.batch, c.seqLen, c.heads, c.valueDim}, c.elt);
  std::string kt = tensorType({c.batch, c.seqLen, c.heads, c.keyDim}, c.elt);
  std::string st = tensorType({S, c.heads, c.keyDim, c.valueDim}, acc);
  std::vector<std::pair<std::string, std::string>> args = {
      {"q", qk}, {"k", qk}, {"v", vt}};
  std::string use = "%q, %k, %v";
  auto add = [&](const std::string &name, const std::string &type) {
    args.push_back({name, type});
    use += " " + name + "(%" + name + ")";
  };
  if (c.form == Form::DPLR) {
    // The log decays in the accumulator type, as makeInputs stores them.
    add("gate", tensorType({c.batch, c.seqLen, c.heads, c.keyDim}, acc));
    add("a", kt);
    add("b", kt);
  } else {
    add("beta", tensorType({c.batch, c.seqLen, c.heads}, c.elt));
    if (c.form == Form::Gated)
      add("gate", tensorType({c.batch, c.seqLen, c.heads}, acc));
    if (c.form == Form::KDA)
      add("gate", tensorType({c.batch, c.seqLen, c.heads, c.keyDim}, acc));
  }
  if (c.hasH0)
    add("h0", st);
  if (c.sequences)
    add("cu_seqlens", tensorType({c.sequences + 1}, "i64"));
  if (c.l2norm)
    use += " use_qk_l2norm";
  std::vector<std::string> attrs;
  if (c.scale >= 0)
    attrs.push_back("scale = " + std::to_string(c.scale) + " : f64");
  if (c.chunk >= 0)
    attrs.push_back("chunk_size = " + std::to_string(c.chunk) + " : i64");
  if (!attrs.empty()) {
    use += " {";
    for (size_t i = 0; i < attrs.size(); ++i)
      use += (i ? ", " : "") + attrs[i];
    use += "}";
  }
  std::string sig, types;
  for (size_t i = 0; i < args.size(); ++i) {
    sig += (i ? ", %" : "%") + args[i].first + ": " + args[i].second;
    types += (i ? ", " : "") + args[i].second;
  }
  std::string results = c.finalState ? "(" + vt + ", " + st + ")" : vt;
  std::string names = c.finalState ? "%o, %s" : "%o";
  std::string ret = c.finalState ? "%o, %s : " + vt + ", " + st : "%o : " + vt;
  return "func.func @main(" + sig + ") -> " + results + " {\n  " + names +
         " = ssm.delta_rule " + use + " : (" + types + ") -> " + results +
         "\n  return " + ret + "\n}\n";
}

/// Random inputs for `c` (stored in its element types, read back so the
/// reference sees exactly what the program reads) and the problem.
struct Inputs {
  std::vector<OwnedTensor> tensors;
  ref::DeltaRuleProblem p;
};

inline Inputs makeInputs(const DeltaConfig &c, unsigned seed,
                         const std::vector<int64_t> &offsets = {}) {
  Inputs in;
  std::mt19937 rng(seed);
  DType elt = *parseDType(c.elt);
  DType acc = *parseDType(test::accumulatorOf(c.elt));
  auto store = [&](DType dt, std::vector<int64_t> shape,
                   const std::vector<double> &values,
                   std::vector<double> &into) {
    OwnedTensor t(dt, shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
      t.setFromDouble(i, values[i]);
      into.push_back(t.getAsDouble(i));
    }
    in.tensors.push_back(std::move(t));
  };
  auto uniform = [&](int64_t n, double lo, double hi) {
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<double> x(n);
    for (double &e : x)
      e = d(rng);
    return x;
  };
  const int64_t B = c.batch, T = c.seqLen, Hk = c.keyHeads, H = c.heads,
                K = c.keyDim, V = c.valueDim;
  ref::DeltaRuleProblem &p = in.p;
  p.batch = B, p.seqLen = T, p.keyHeads = Hk, p.heads = H, p.keyDim = K;
  p.valueDim = V, p.l2norm = c.l2norm, p.scale = c.scale;
  // Keys of norm about 1 without l2norm, so the delta update stays a
  // contraction (beta ||k||^2 < 2).
  double kr = c.l2norm ? 1.0 : std::sqrt(3.0 / double(K));
  store(elt, {B, T, Hk, K}, uniform(B * T * Hk * K, -1, 1), p.q);
  store(elt, {B, T, Hk, K}, uniform(B * T * Hk * K, -kr, kr), p.k);
  store(elt, {B, T, H, V}, uniform(B * T * H * V, -1, 1), p.v);
  double glo = c.weakGate ? -0.005 : -0.5;
  if (c.form == Form::DPLR) {
    // RWKV-7's shape of the low-rank term: a = -kk, b = kk * iclr with kk
    // a unit vector, so diag(w) + a b^T stays a contraction.
    std::vector<double> a(B * T * H * K), bv(B * T * H * K);
    for (int64_t r = 0; r < B * T * H; ++r) {
      std::vector<double> kk = uniform(K, -1, 1);
      double n = 0;
      for (double e : kk)
        n += e * e;
      double iclr = uniform(1, 0, 1)[0];
      for (int64_t i = 0; i < K; ++i) {
        a[r * K + i] = -kk[i] / std::sqrt(n);
        bv[r * K + i] = kk[i] / std::sqrt(n) * iclr;
      }
    }
    store(acc, {B, T, H, K}, uniform(B * T * H * K, glo, 0), p.gate);
    p.gatePerKey = true;
    store(elt, {B, T, H, K}, a, p.a);
    store(elt, {B, T, H, K}, bv, p.b);
  } else {
    store(elt, {B, T, H}, uniform(B * T * H, 0, 1), p.beta);
    if (c.form == Form::Gated)
      store(acc, {B, T, H}, uniform(B * T * H, glo, 0), p.gate);
    if (c.form == Form::KDA) {
      store(acc, {B, T, H, K}, uniform(B * T * H * K, glo, 0), p.gate);
      p.gatePerKey = true;
    }
  }
  const int64_t S = c.sequences ? c.sequences : B;
  if (c.hasH0)
    store(acc, {S, H, K, V}, uniform(S * H * K * V, -1, 1), p.h0);
  if (c.sequences) {
    OwnedTensor cu(DType::I64, {c.sequences + 1});
    for (int64_t i = 0; i <= c.sequences; ++i)
      cu.as<int64_t>()[i] = offsets[i];
    p.cuSeqlens = offsets;
    in.tensors.push_back(std::move(cu));
  }
  return in;
}

using ssmc::test::maxError;
using ssmc::test::runProgram;

/// Runs `c` and checks out (and the final state) against the reference:
/// f32 within 1e-4 * max(1, max|ref|); bf16/f16 within twice the error of
/// storing the exact result in that type, and 1e-2 relative.
inline void expectMatches(const DeltaConfig &c, unsigned seed,
                          const std::vector<int64_t> &offsets, Target target) {
  Inputs in = makeInputs(c, seed, offsets);
  auto results = runProgram(program(c), in.tensors, target);
  ASSERT_TRUE(static_cast<bool>(results))
      << llvm::toString(results.takeError());
  ref::DeltaRuleResult want = ref::deltaRule(in.p);
  ASSERT_EQ(results->size(), 1u + c.finalState);
  auto [err, scale] = maxError((*results)[0], want.out);
  double bound = 1e-4 * scale;
  if (c.elt != "f32" && c.elt != "f64") {
    // A plain loop reading the same inputs can at best store the exact
    // result rounded to the output type.
    OwnedTensor rounded((*results)[0].dtype(), (*results)[0].shape());
    for (int64_t i = 0; i < rounded.numel(); ++i)
      rounded.setFromDouble(i, want.out[i]);
    double plain = maxError(rounded, want.out).first;
    bound = std::min(2 * plain, 1e-2 * scale);
  }
  EXPECT_LE(err, bound) << "out";
  if (c.finalState) {
    auto [serr, sscale] = maxError((*results)[1], want.finalState);
    EXPECT_LE(serr, 1e-4 * sscale) << "final_state";
  }
}

inline DeltaConfig cfg(Form form, int64_t B, int64_t T, int64_t Hk, int64_t H,
                       int64_t K, int64_t V) {
  DeltaConfig c;
  c.form = form;
  c.batch = B, c.seqLen = T, c.keyHeads = Hk, c.heads = H;
  c.keyDim = K, c.valueDim = V;
  return c;
}

} // namespace ssmc::test::delta_rule

#endif // SSMC_TEST_LIB_DELTARULECASES_H
