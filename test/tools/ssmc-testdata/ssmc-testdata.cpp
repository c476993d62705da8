//===- ssmc-testdata.cpp - inputs and reference results for lit tests -----===//
//
//   ssmc-testdata selective-scan --out DIR [shape and option flags]
//       writes u.npy, dt.npy, A.npy, B.npy, C.npy (+ D, z, bias, h0; bf16
//       tensors as NAME.safetensors) and the
//       double-precision reference results ref_out.npy, ref_state.npy
//   ssmc-testdata ssd --out DIR [shape flags] [--groups G] [--full]
//       x, dt, A, B, C (B, C [B, L, G, N]; + D, z, bias, h0, softplus,
//       dt_limit [0, 2]),
//       ref_out.npy, ref_state.npy
//   ssmc-testdata linear-attention --out DIR [shape flags]
//       [--gate none|scalar|key] [--normalize] [--h0] [--reverse]
//       [--feature-map identity|elu_plus_one|relu]
//       q, k, v (+ gate, h0, z0), ref_out.npy, ref_state.npy (+ ref_z.npy)
//   ssmc-testdata causal-conv1d --out DIR --batch B --channels D --len L
//       --width W   x, weight, bias, init (+ silu), ref_out.npy, ref_state.npy
//   ssmc-testdata delta-rule --out DIR [shape flags] [--key-heads Hk]
//       [--form deltanet|gated|kda|rwkv7] [--l2norm] [--scale S] [--h0]
//       [--dtype f32|f16] [--cu-seqlens 0,A,...,T]
//       q, k, v (+ beta or a, b; gate; h0; cu_seqlens.npy, i64, with h0 and
//       ref_state per sequence), ref_out.npy, ref_state.npy
//   ssmc-testdata attention --out DIR [shape flags] [--kv-heads Hkv]
//       [--window W] [--softcap C] [--scale S] [--alibi] [--sinks]
//       [--no-causal] [--window-left L] [--window-right R] [--key-len Lk]
//       [--cu-seqlens 0,a,..,L [--cu-seqlens-k 0,..,Lk] [--offsets-i32]]
//       [--seqused-k n,..]   attention (causal unless --no-causal):
//       q, k, v (+ alibi, sinks, cu_q, cu_k, used), ref_out.npy
//   ssmc-testdata compare GOT WANT [--rtol R]   (.npy or .safetensors[:name])
//       passes when max |got - want| <= R * max(1, max |want|)
//
// The reference comes from ssmc::ref (test/lib/Reference.h), never from
// the code under test.
//
//===----------------------------------------------------------------------===//

#include "test/lib/Reference.h"
#include "ssmc/TensorIO.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <random>

using namespace llvm;

namespace {

cl::SubCommand scanCmd("selective-scan", "Write selective-scan inputs and reference");
cl::SubCommand ssdCmd("ssd", "Write ssd inputs and reference");
cl::SubCommand laCmd("linear-attention", "Write linear-attention inputs and reference");
cl::SubCommand convCmd("causal-conv1d", "Write causal-conv1d inputs and reference");
cl::SubCommand drCmd("delta-rule", "Write delta-rule inputs and reference");
cl::SubCommand attnCmd("attention", "Write attention inputs and reference");
cl::SubCommand compareCmd("compare", "Compare a result with a reference");

cl::opt<std::string> outDir("out", cl::desc("Output directory"), cl::sub(scanCmd),
                            cl::sub(ssdCmd), cl::sub(laCmd), cl::sub(convCmd), cl::sub(drCmd),
                            cl::sub(attnCmd));
cl::opt<int64_t> batch("batch", cl::init(1), cl::sub(scanCmd), cl::sub(ssdCmd),
                       cl::sub(laCmd), cl::sub(convCmd), cl::sub(drCmd), cl::sub(attnCmd));
cl::opt<int64_t> channels("channels", cl::init(1), cl::sub(scanCmd), cl::sub(convCmd));
cl::opt<int64_t> width("width", cl::init(4), cl::sub(convCmd));
cl::opt<int64_t> len("len", cl::init(1), cl::sub(scanCmd), cl::sub(ssdCmd),
                     cl::sub(laCmd), cl::sub(convCmd), cl::sub(drCmd), cl::sub(attnCmd));
cl::opt<int64_t> state("state", cl::init(1), cl::sub(scanCmd), cl::sub(ssdCmd));
cl::opt<int64_t> heads("heads", cl::init(1), cl::sub(ssdCmd), cl::sub(laCmd), cl::sub(drCmd),
                       cl::sub(attnCmd));
cl::opt<int64_t> headDim("head-dim", cl::desc("P (ssd), K (linear attention, delta rule), d (attention)"),
                         cl::init(1), cl::sub(ssdCmd), cl::sub(laCmd), cl::sub(drCmd),
                         cl::sub(attnCmd));
cl::opt<int64_t> valueDim("value-dim", cl::init(1), cl::sub(laCmd), cl::sub(drCmd),
                          cl::sub(attnCmd));
cl::opt<int64_t> kvHeads("kv-heads", cl::desc("K/V heads (0: --heads)"), cl::init(0),
                         cl::sub(attnCmd));
cl::opt<int64_t> window("window", cl::desc("sliding window (0: none)"), cl::init(0),
                        cl::sub(attnCmd));
cl::opt<double> softcap("softcap", cl::init(0), cl::sub(attnCmd));
cl::opt<double> scale("scale", cl::desc("score scale (< 0: d^-1/2)"), cl::init(-1),
                      cl::sub(attnCmd));
cl::opt<bool> alibi("alibi", cl::desc("ALiBi slopes [H]"), cl::sub(attnCmd));
cl::opt<bool> sinks("sinks", cl::desc("sink logits [H]"), cl::sub(attnCmd));
cl::opt<bool> noCausal("no-causal", cl::desc("attention without the causal mask"),
                       cl::sub(attnCmd));
cl::opt<int64_t> windowLeft("window-left", cl::desc("keys left of the query (-1: all)"),
                            cl::init(-1), cl::sub(attnCmd));
cl::opt<int64_t> windowRight("window-right", cl::desc("keys right of the query (-1: all)"),
                             cl::init(-1), cl::sub(attnCmd));
cl::opt<int64_t> keyLen("key-len", cl::desc("Lk (0: --len)"), cl::init(0), cl::sub(attnCmd));
cl::list<int64_t> cuSeqlens("cu-seqlens", cl::desc("packed query offsets (batch 1)"),
                            cl::CommaSeparated, cl::sub(attnCmd));
cl::list<int64_t> cuSeqlensK("cu-seqlens-k", cl::desc("packed key offsets (default: --cu-seqlens)"),
                             cl::CommaSeparated, cl::sub(attnCmd));
cl::opt<bool> offsetsI32("offsets-i32", cl::desc("write the offsets and key counts as i32"),
                         cl::sub(attnCmd));
cl::list<int64_t> sequsedK("seqused-k", cl::desc("keys used per batch entry or sequence"),
                           cl::CommaSeparated, cl::sub(attnCmd));
cl::opt<std::string> gateKind("gate", cl::desc("none, scalar or key"),
                              cl::init("none"), cl::sub(laCmd));
cl::opt<bool> normalize("normalize", cl::sub(laCmd));
cl::opt<bool> withH0("h0", cl::desc("h0 (and z0 with --normalize)"), cl::sub(laCmd), cl::sub(drCmd));
cl::opt<int64_t> groups("groups", cl::desc("B/C groups (0: shared)"), cl::init(0), cl::sub(scanCmd),
                        cl::sub(ssdCmd));
cl::opt<bool> laReverse("reverse", cl::desc("right to left"), cl::sub(laCmd));
cl::opt<std::string> featureMap("feature-map", cl::desc("identity, elu_plus_one or relu"),
                                cl::init("identity"), cl::sub(laCmd));
cl::opt<bool> full("full", cl::desc("D, z, delta_bias, h0 and softplus"), cl::sub(scanCmd),
                   cl::sub(ssdCmd));
cl::opt<bool> fixedB("fixed-b", cl::desc("B fixed over time: [channels, state]"), cl::sub(scanCmd));
cl::opt<bool> fixedC("fixed-c", cl::desc("C fixed over time: [channels, state]"), cl::sub(scanCmd));
cl::opt<unsigned> seed("seed", cl::init(1), cl::sub(scanCmd), cl::sub(ssdCmd),
                       cl::sub(laCmd), cl::sub(convCmd), cl::sub(drCmd), cl::sub(attnCmd));
cl::opt<int64_t> keyHeads("key-heads", cl::desc("q/k heads (0: --heads)"), cl::init(0),
                          cl::sub(drCmd));
cl::opt<std::string> drForm("form", cl::desc("deltanet, gated, kda or rwkv7"),
                            cl::init("deltanet"), cl::sub(drCmd));
cl::opt<bool> l2norm("l2norm", cl::desc("use_qk_l2norm"), cl::sub(drCmd));
cl::opt<double> drScale("scale", cl::desc("query scale (< 0: K^-1/2)"), cl::init(-1),
                        cl::sub(drCmd));
cl::list<int64_t> drCuSeqlens(
    "cu-seqlens", cl::desc("packed sequences: offsets 0,...,--len (--batch 1)"),
    cl::CommaSeparated, cl::sub(drCmd));
cl::opt<std::string> dtype("dtype", cl::desc("f32, f16, bf16 or f64 inputs (delta-rule: f32 or f16 q, k, v)"),
                          cl::init("f32"), cl::sub(scanCmd), cl::sub(drCmd));

cl::opt<std::string> got(cl::Positional, cl::desc("<got>"), cl::sub(compareCmd));
cl::opt<std::string> want(cl::Positional, cl::desc("<want>"), cl::sub(compareCmd));
cl::opt<double> rtol("rtol", cl::init(1e-4), cl::sub(compareCmd));

int fail(const Twine &msg) {
  errs() << "ssmc-testdata: " << msg << "\n";
  return 1;
}

int selectiveScan() {
  std::optional<ssmc::DType> elt = ssmc::parseDType(dtype);
  if (!elt)
    return fail("bad --dtype");
  ssmc::DType acc = *elt == ssmc::DType::F64 ? ssmc::DType::F64 : ssmc::DType::F32;
  if (std::error_code ec = sys::fs::create_directories(outDir))
    return fail("cannot create " + outDir + ": " + ec.message());
  std::mt19937 rng(seed);
  ssmc::ref::SelectiveScanProblem p;
  p.batch = batch, p.channels = channels, p.seqLen = len, p.stateSize = state;
  p.groupsB = p.groupsC = groups;
  p.fixedB = fixedB, p.fixedC = fixedC;
  p.deltaSoftplus = full;
  auto emit = [&](const char *name, ssmc::DType dt, std::vector<int64_t> shape,
                  double lo, double hi, std::vector<double> &values) -> bool {
    ssmc::OwnedTensor t(dt, shape);
    std::uniform_real_distribution<double> dist(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) {
      t.setFromDouble(i, dist(rng));
      values.push_back(t.getAsDouble(i));
    }
    // bf16 has no NumPy dtype: such inputs go to NAME.safetensors.
    std::string base = outDir + "/" + name;
    Error e = dt == ssmc::DType::BF16
                  ? ssmc::writeSafetensors(base + ".safetensors", {{name, t.view()}})
                  : ssmc::writeNpy(base + ".npy", t.view());
    if (e) {
      errs() << toString(std::move(e)) << "\n";
      return false;
    }
    return true;
  };
  std::vector<int64_t> bc = groups ? std::vector<int64_t>{batch, groups, state, len}
                                   : std::vector<int64_t>{batch, state, len};
  std::vector<int64_t> fixedShape = {channels, state};
  bool ok = emit("u", *elt, {batch, channels, len}, -1, 1, p.u) &&
            emit("dt", *elt, {batch, channels, len}, full ? -3 : 0.001, full ? 1 : 0.5, p.delta) &&
            emit("A", acc, {channels, state}, -4, -0.05, p.A) &&
            emit("B", *elt, fixedB ? fixedShape : bc, -1, 1, p.B) &&
            emit("C", *elt, fixedC ? fixedShape : bc, -1, 1, p.C);
  if (ok && full)
    ok = emit("D", acc, {channels}, -1, 1, p.D) &&
         emit("z", *elt, {batch, channels, len}, -3, 3, p.z) &&
         emit("bias", acc, {channels}, -1, 0.5, p.deltaBias) &&
         emit("h0", acc, {batch, channels, state}, -1, 1, p.h0);
  if (!ok)
    return 1;
  if (groups && channels % groups != 0) {
    // Inputs for tests of the run-time checks: no reference exists.
    errs() << "ssmc-testdata: " << channels << " channels are not divisible by "
           << groups << " groups; wrote inputs only\n";
    return 0;
  }
  ssmc::ref::SelectiveScanResult r = ssmc::ref::selectiveScan(p);
  auto save = [&](const char *name, const std::vector<double> &v,
                  std::vector<int64_t> shape) -> bool {
    ssmc::OwnedTensor t(ssmc::DType::F64, shape);
    for (size_t i = 0; i < v.size(); ++i)
      t.as<double>()[i] = v[i];
    if (Error e = ssmc::writeNpy(outDir + "/" + name + ".npy", t.view())) {
      errs() << toString(std::move(e)) << "\n";
      return false;
    }
    return true;
  };
  return save("ref_out", r.out, {batch, channels, len}) &&
                 save("ref_state", r.finalState, {batch, channels, state})
             ? 0
             : 1;
}

/// Random f32 tensors and f64 references for the ssd and linear-attention
/// subcommands.
class Writer {
public:
  Writer() : rng(seed) {}
  bool start() {
    if (std::error_code ec = sys::fs::create_directories(outDir)) {
      errs() << "cannot create " << outDir << ": " << ec.message() << "\n";
      return false;
    }
    return true;
  }
  bool input(const char *name, std::vector<int64_t> shape, double lo, double hi,
             std::vector<double> &values, ssmc::DType dt = ssmc::DType::F32) {
    ssmc::OwnedTensor t(dt, shape);
    std::uniform_real_distribution<double> dist(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) {
      t.setFromDouble(i, dist(rng));
      values.push_back(t.getAsDouble(i));
    }
    return write(outDir + "/" + name + ".npy", t);
  }
  /// The linear-attention and delta-rule operands q and k (shape `qk`,
  /// drawn in `qRange` and `kRange`) and v (shape `vs`, in [-1, 1]), in
  /// that order, stored as `dt`.
  bool queriesKeysValues(const std::vector<int64_t> &qk,
                         const std::vector<int64_t> &vs,
                         std::pair<double, double> qRange,
                         std::pair<double, double> kRange,
                         std::vector<double> &q, std::vector<double> &k,
                         std::vector<double> &v,
                         ssmc::DType dt = ssmc::DType::F32) {
    return input("q", qk, qRange.first, qRange.second, q, dt) &&
           input("k", qk, kRange.first, kRange.second, k, dt) &&
           input("v", vs, -1, 1, v, dt);
  }
  bool integers(const char *name, const std::vector<int64_t> &values,
                ssmc::DType dt) {
    ssmc::OwnedTensor t(dt, {int64_t(values.size())});
    for (size_t i = 0; i < values.size(); ++i)
      t.setFromDouble(i, double(values[i]));
    return write(outDir + "/" + name + ".npy", t);
  }
  bool reference(const char *name, const std::vector<double> &v,
                 std::vector<int64_t> shape) {
    ssmc::OwnedTensor t(ssmc::DType::F64, shape);
    for (size_t i = 0; i < v.size(); ++i)
      t.as<double>()[i] = v[i];
    return write(outDir + "/" + name + ".npy", t);
  }

private:
  bool write(const std::string &path, ssmc::OwnedTensor &t) {
    if (Error e = ssmc::writeNpy(path, t.view())) {
      errs() << toString(std::move(e)) << "\n";
      return false;
    }
    return true;
  }
  std::mt19937 rng;
};

int ssd() {
  Writer w;
  ssmc::ref::SSDProblem p;
  const int64_t B = batch, L = len, H = heads, P = headDim, N = state;
  p.batch = B, p.seqLen = L, p.heads = H, p.headDim = P, p.stateSize = N;
  const int64_t G = groups ? groups : 1;
  if (H % G)
    return fail("--groups must divide --heads");
  p.groups = G;
  p.dtSoftplus = full;
  if (full)
    p.dtLimit = std::pair<double, double>(0.0, 2.0);
  bool ok = w.start() && w.input("x", {B, L, H, P}, -1, 1, p.x) &&
            w.input("dt", {B, L, H}, full ? -3 : 0.01, full ? 1 : 0.5, p.dt) &&
            w.input("A", {H}, -2, -0.1, p.A) &&
            w.input("B", {B, L, G, N}, -1, 1, p.B) &&
            w.input("C", {B, L, G, N}, -1, 1, p.C);
  if (ok && full)
    ok = w.input("D", {H}, -1, 1, p.D) && w.input("z", {B, L, H, P}, -3, 3, p.z) &&
         w.input("bias", {H}, -1, 0.5, p.dtBias) &&
         w.input("h0", {B, H, P, N}, -1, 1, p.h0);
  if (!ok)
    return 1;
  ssmc::ref::SSDResult r = ssmc::ref::ssd(p);
  return w.reference("ref_out", r.out, {B, L, H, P}) &&
                 w.reference("ref_state", r.finalState, {B, H, P, N})
             ? 0
             : 1;
}

int linearAttention() {
  Writer w;
  ssmc::ref::LinearAttentionProblem p;
  const int64_t B = batch, H = heads, L = len, K = headDim, V = valueDim;
  p.batch = B, p.heads = H, p.seqLen = L, p.keyDim = K, p.valueDim = V;
  p.normalize = normalize;
  p.reverse = laReverse;
  if (featureMap == "elu_plus_one")
    p.featureMap = ssmc::ref::LinearAttentionProblem::FeatureMap::EluPlusOne;
  else if (featureMap == "relu")
    p.featureMap = ssmc::ref::LinearAttentionProblem::FeatureMap::Relu;
  else if (featureMap != "identity")
    return fail("--feature-map must be identity, elu_plus_one or relu");
  // Positive features keep the normaliser away from zero.
  const double lo = normalize ? 0.05 : -1;
  bool ok = w.start() && w.queriesKeysValues({B, H, L, K}, {B, H, L, V},
                                             {lo, 1}, {lo, 1}, p.q, p.k, p.v);
  if (gateKind == "scalar")
    ok = ok && w.input("gate", {B, H, L}, -0.5, 0, p.gate);
  else if (gateKind == "key")
    ok = ok && w.input("gate", {B, H, L, K}, -0.5, 0, p.gate),
    p.gatePerKey = true;
  else if (gateKind != "none")
    return fail("--gate must be none, scalar or key");
  if (ok && withH0) {
    ok = w.input("h0", {B, H, K, V}, -1, 1, p.h0);
    if (ok && normalize)
      ok = w.input("z0", {B, H, K}, 0, 1, p.z0);
  }
  if (!ok)
    return 1;
  ssmc::ref::LinearAttentionResult r = ssmc::ref::linearAttention(p);
  return w.reference("ref_out", r.out, {B, H, L, V}) &&
                 w.reference("ref_state", r.finalState, {B, H, K, V}) &&
                 (!normalize || w.reference("ref_z", r.finalZ, {B, H, K}))
             ? 0
             : 1;
}

int causalConv() {
  Writer w;
  const int64_t B = batch, D = channels, L = len, W = width;
  std::vector<double> x, weight, bias, init;
  bool ok = w.start() && w.input("x", {B, D, L}, -1, 1, x) &&
            w.input("weight", {D, W}, -1, 1, weight) &&
            w.input("bias", {D}, -0.5, 0.5, bias) &&
            w.input("init", {B, D, W - 1}, -1, 1, init);
  if (!ok)
    return 1;
  auto [out, fin] = ssmc::ref::causalConv1d(B, D, L, W, x, weight, bias, init,
                                            /*applySilu=*/true);
  return w.reference("ref_out", out, {B, D, L}) &&
                 w.reference("ref_state", fin, {B, D, W - 1})
             ? 0
             : 1;
}

int deltaRule() {
  Writer w;
  ssmc::ref::DeltaRuleProblem p;
  const int64_t B = batch, T = len, H = heads, Hk = keyHeads ? keyHeads : heads,
                K = headDim, V = valueDim;
  if (H % Hk)
    return fail("--key-heads must divide --heads");
  p.batch = B, p.seqLen = T, p.keyHeads = Hk, p.heads = H, p.keyDim = K,
  p.valueDim = V;
  p.l2norm = l2norm;
  p.scale = drScale;
  const bool dplr = drForm == "rwkv7";
  if (!dplr && drForm != "deltanet" && drForm != "gated" && drForm != "kda")
    return fail("--form must be deltanet, gated, kda or rwkv7");
  if (dtype != "f32" && dtype != "f16")
    return fail("delta-rule takes --dtype f32 or f16");
  p.cuSeqlens.assign(drCuSeqlens.begin(), drCuSeqlens.end());
  const bool packed = !p.cuSeqlens.empty();
  if (packed && (B != 1 || p.cuSeqlens.size() < 2 || p.cuSeqlens.front() != 0 ||
                 p.cuSeqlens.back() != T ||
                 !std::is_sorted(p.cuSeqlens.begin(), p.cuSeqlens.end())))
    return fail("--cu-seqlens must rise from 0 to --len, with --batch 1");
  // One state per sequence when packed.
  const int64_t S = packed ? int64_t(p.cuSeqlens.size()) - 1 : B;
  // q, k, v in that type (NumPy has f16), the gates and h0 in f32; the
  // reference reads the rounded values.
  const ssmc::DType qkv = dtype == "f16" ? ssmc::DType::F16 : ssmc::DType::F32;
  // Without normalisation small keys keep I - beta k k^T a contraction.
  const double kr = l2norm ? 1.0 : 0.4;
  bool ok = w.start() &&
            w.queriesKeysValues({B, T, Hk, K}, {B, T, H, V}, {-1, 1},
                                {-kr, kr}, p.q, p.k, p.v, qkv);
  if (ok && !dplr)
    ok = w.input("beta", {B, T, H}, 0.1, 0.9, p.beta);
  if (ok && drForm == "gated")
    ok = w.input("gate", {B, T, H}, -0.5, 0, p.gate);
  if (ok && (drForm == "kda" || dplr))
    ok = w.input("gate", {B, T, H, K}, -0.5, 0, p.gate), p.gatePerKey = true;
  if (ok && dplr)
    ok = w.input("a", {B, T, H, K}, -0.3, 0.3, p.a) &&
         w.input("b", {B, T, H, K}, -0.3, 0.3, p.b);
  if (ok && withH0)
    ok = w.input("h0", {S, H, K, V}, -1, 1, p.h0);
  if (ok && packed)
    ok = w.integers("cu_seqlens", p.cuSeqlens, ssmc::DType::I64);
  if (!ok)
    return 1;
  ssmc::ref::DeltaRuleResult r = ssmc::ref::deltaRule(p);
  return w.reference("ref_out", r.out, {B, T, H, V}) &&
                 w.reference("ref_state", r.finalState, {S, H, K, V})
             ? 0
             : 1;
}

int attention() {
  Writer w;
  ssmc::ref::AttentionProblem p;
  const int64_t B = batch, H = heads, Hkv = kvHeads ? kvHeads : heads, L = len,
                Lk = keyLen ? keyLen : len, d = headDim, dv = valueDim;
  if (H % Hkv)
    return fail("--kv-heads must divide --heads");
  p.batch = B, p.heads = H, p.kvHeads = Hkv, p.queryLen = L, p.keyLen = Lk;
  p.headDim = d, p.valueDim = dv, p.causal = !noCausal, p.window = window;
  p.windowLeft = windowLeft, p.windowRight = windowRight;
  p.softcap = softcap, p.scale = scale;
  p.cuSeqlensQ.assign(cuSeqlens.begin(), cuSeqlens.end());
  p.cuSeqlensK.assign(cuSeqlensK.begin(), cuSeqlensK.end());
  if (p.cuSeqlensK.empty())
    p.cuSeqlensK = p.cuSeqlensQ;
  p.sequsedK.assign(sequsedK.begin(), sequsedK.end());
  if (p.cuSeqlensK.size() != p.cuSeqlensQ.size() ||
      (!p.cuSeqlensQ.empty() &&
       (B != 1 || p.cuSeqlensQ.back() != L || p.cuSeqlensK.back() != Lk)))
    return fail("--cu-seqlens(-k): as many offsets each, ending at Lq and Lk, "
                "batch 1");
  // Scores of a few units: the softmax is neither flat nor one-hot.
  bool ok = w.start() && w.input("q", {B, H, L, d}, -2, 2, p.q) &&
            w.input("k", {B, Hkv, Lk, d}, -2, 2, p.k) &&
            w.input("v", {B, Hkv, Lk, dv}, -1, 1, p.v);
  if (ok && alibi)
    ok = w.input("alibi", {H}, 0.05, 0.5, p.alibiSlopes);
  if (ok && sinks)
    ok = w.input("sinks", {H}, -1, 1, p.sinks);
  const ssmc::DType it = offsetsI32 ? ssmc::DType::I32 : ssmc::DType::I64;
  if (ok && !p.cuSeqlensQ.empty())
    ok = w.integers("cu_q", p.cuSeqlensQ, it) &&
         w.integers("cu_k", p.cuSeqlensK, it);
  if (ok && !p.sequsedK.empty())
    ok = w.integers("used", p.sequsedK, it);
  if (!ok)
    return 1;
  return w.reference("ref_out", ssmc::ref::attention(p), {B, H, L, dv}) ? 0 : 1;
}

int compare() {
  auto a = ssmc::readTensorSpec(got);
  if (!a)
    return fail(toString(a.takeError()));
  auto b = ssmc::readTensorSpec(want);
  if (!b)
    return fail(toString(b.takeError()));
  if (a->shape() != b->shape())
    return fail("shape " + ssmc::formatShape(a->shape()) + " != " +
                ssmc::formatShape(b->shape()));
  double err = 0, scale = 1;
  for (int64_t i = 0; i < b->numel(); ++i) {
    double x = a->getAsDouble(i), y = b->getAsDouble(i);
    scale = std::max(scale, std::fabs(y));
    err = std::isnan(x) ? INFINITY : std::max(err, std::fabs(x - y));
  }
  double tol = rtol * scale;
  outs() << format("max error %.3g, tolerance %.3g: %s\n", err, tol,
                   err <= tol ? "OK" : "FAIL");
  return err <= tol ? 0 : 1;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "ssmc test data and comparisons\n");
  if (scanCmd)
    return selectiveScan();
  if (ssdCmd)
    return ssd();
  if (laCmd)
    return linearAttention();
  if (convCmd)
    return causalConv();
  if (drCmd)
    return deltaRule();
  if (attnCmd)
    return attention();
  if (compareCmd)
    return compare();
  return fail("give a subcommand: selective-scan or compare (see --help)");
}
