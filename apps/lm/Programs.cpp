//===- Programs.cpp - the ssm programs of whole language models -----------===//
//
// One module per configuration, with static sizes everywhere except the
// sequence length of forward/prefill (so one compile serves every prompt)
// and layer weights stacked on a leading n_layer dimension (the layer loop
// is an scf.for that slices them). Activations are channel-major [C, L], the
// layout of the sequence ops, so every projection is a plain
// `linalg.matmul` of a row-major [out, in] weight and needs no transpose.
//
//===----------------------------------------------------------------------===//

#include "apps/lm/LanguageModel.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <map>
#include <string>

namespace ssmc::models {

namespace {

/// The MLIR element type of the projections at precision `p`.
const char *projectionElt(WeightPrecision p) {
  switch (p) {
  case WeightPrecision::BF16:
    return "bf16";
  case WeightPrecision::Int8:
    return "i8";
  case WeightPrecision::F32:
    break;
  }
  return "f32";
}

/// Builds function bodies as text with fresh SSA names.
class Emitter {
public:
  explicit Emitter(std::string seqLen,
                   WeightPrecision precision = WeightPrecision::F32)
      : L(std::move(seqLen)), precision(precision) {}

  /// "tensor<AxBx...xf32>" from sizes; "L" stands for the sequence length.
  std::string ty(std::initializer_list<std::string> dims,
                 const char *elt = "f32") const {
    std::string s = "tensor<";
    for (const std::string &d : dims)
      s += (d == "L" ? L : d) + "x";
    return s + elt + ">";
  }
  bool dynamic() const { return L == "?"; }

  std::string fresh(llvm::StringRef hint) {
    return ("%" + hint + std::to_string(counter++)).str();
  }
  void line(const std::string &s) { body += "    " + s + "\n"; }

  std::string constIndex(int64_t v) {
    std::string n = fresh("c");
    line(n + " = arith.constant " + std::to_string(v) + " : index");
    return n;
  }
  std::string constF32(double v) {
    std::string n = fresh("cst");
    line(n + " = arith.constant " + llvm::formatv("{0:e9}", v).str() +
         " : f32");
    return n;
  }

  /// tensor.empty of `t` (which may mention the dynamic length).
  std::string empty(const std::string &t) {
    std::string n = fresh("e");
    line(n + " = tensor.empty(" + (t.find('?') != std::string::npos ? lenVal
                                                                    : "") +
         ") : " + t);
    return n;
  }
  std::string zeros(const std::string &t) {
    std::string e = empty(t), z = constF32(0), n = fresh("z");
    line(n + " = linalg.fill ins(" + z + " : f32) outs(" + e + " : " + t +
         ") -> " + t);
    return n;
  }

  /// The element type of weight argument `w` ("%name").
  const char *weightElt(const std::string &w) const {
    return isProjection(llvm::StringRef(w).drop_front())
               ? projectionElt(precision)
               : "f32";
  }

  /// out[M, L] = w[M, K] x[K, L]. A bf16 or i8 weight is widened by the
  /// matmul (linalg's casts); an i8 weight's rows are then scaled by its
  /// per-row scales.
  std::string matmul(const std::string &w, int64_t M, int64_t K,
                     const std::string &x) {
    std::string elt = "f32", scale;
    if (auto it = lowPrecision.find(w); it != lowPrecision.end())
      std::tie(elt, scale) = it->second;
    else if (w.size() > 1 && w[0] == '%' && isProjection(w.substr(1))) {
      elt = weightElt(w);
      if (precision == WeightPrecision::Int8)
        scale = w + "_scale";
    }
    std::string wt = ty({std::to_string(M), std::to_string(K)}, elt.c_str());
    std::string xt = ty({std::to_string(K), "L"});
    std::string ot = ty({std::to_string(M), "L"});
    std::string acc = zeros(ot), n = fresh("mm");
    line(n + " = linalg.matmul ins(" + w + ", " + x + " : " + wt + ", " + xt +
         ") outs(" + acc + " : " + ot + ") -> " + ot);
    if (scale.empty())
      return n;
    std::string r = fresh("scaled");
    line(r + " = linalg.generic {indexing_maps = [affine_map<(m, l) -> (m)>, "
             "affine_map<(m, l) -> (m, l)>], iterator_types = [\"parallel\", "
             "\"parallel\"]} ins(" +
         scale + " : " + ty({std::to_string(M)}) + ") outs(" + n + " : " + ot +
         ") {");
    line("^bb0(%s: f32, %o: f32):");
    line("  %p = arith.mulf %o, %s : f32");
    line("  linalg.yield %p : f32");
    line("} -> " + ot);
    return r;
  }

  /// Rows [off, off + rows) of x[R, L].
  std::string rows(const std::string &x, int64_t R, int64_t off, int64_t rows) {
    std::string n = fresh("rows");
    line(n + " = tensor.extract_slice " + x + "[" + std::to_string(off) +
         ", 0] [" + std::to_string(rows) + ", " + lenOrStatic() +
         "] [1, 1] : " + ty({std::to_string(R), "L"}) + " to " +
         ty({std::to_string(rows), "L"}));
    return n;
  }
  /// Layer `i`'s slice of a stacked weight [NL, dims...].
  std::string layer(const std::string &w, const std::string &i, int64_t NL,
                    std::vector<int64_t> dims, bool keepUnit = false) {
    std::string offs = i, sizes = "1", strides = "1", full = std::to_string(NL),
                part = keepUnit ? "1" : "";
    for (int64_t d : dims) {
      offs += ", 0";
      sizes += ", " + std::to_string(d);
      strides += ", 1";
      full += "x" + std::to_string(d);
      part += (part.empty() ? "" : "x") + std::to_string(d);
    }
    std::string elt = weightElt(w);
    std::string n = fresh("w");
    line(n + " = tensor.extract_slice " + w + "[" + offs + "] [" + sizes +
         "] [" + strides + "] : tensor<" + full + "x" + elt + "> to tensor<" +
         part + "x" + elt + ">");
    if (elt == std::string("f32"))
      return n;
    // A low-precision projection [M, K]: the matmul widens it; i8 weights
    // come with the layer's row scales [M].
    std::string scale;
    if (precision == WeightPrecision::Int8 && dims.size() == 2) {
      scale = fresh("ws");
      std::string sNL = std::to_string(NL), sM = std::to_string(dims[0]);
      line(scale + " = tensor.extract_slice " + w + "_scale[" + i +
           ", 0] [1, " + sM + "] [1, 1] : tensor<" + sNL + "x" + sM +
           "xf32> to tensor<" + sM + "xf32>");
    }
    lowPrecision[n] = {elt, scale};
    return n;
  }
  std::string insertLayer(const std::string &v, const std::string &into,
                          const std::string &i, int64_t NL,
                          std::vector<int64_t> dims) {
    std::string offs = i, sizes = "1", strides = "1", full = std::to_string(NL),
                part = "1";
    for (int64_t d : dims) {
      offs += ", 0";
      sizes += ", " + std::to_string(d);
      strides += ", 1";
      full += "x" + std::to_string(d);
      part += "x" + std::to_string(d);
    }
    std::string n = fresh("st");
    line(n + " = tensor.insert_slice " + v + " into " + into + "[" + offs +
         "] [" + sizes + "] [" + strides + "] : tensor<" + part +
         "xf32> into tensor<" + full + "xf32>");
    return n;
  }
  /// [C, L] <-> [1, C, L]
  std::string batch(const std::string &x, int64_t C) {
    std::string n = fresh("b");
    line(n + " = tensor.expand_shape " + x + " [[0, 1], [2]] output_shape [1, " +
         std::to_string(C) + ", " + lenOrStatic() + "] : " +
         ty({std::to_string(C), "L"}) + " into " +
         ty({"1", std::to_string(C), "L"}));
    return n;
  }
  std::string unbatch(const std::string &x, int64_t C) {
    std::string n = fresh("u");
    line(n + " = tensor.collapse_shape " + x + " [[0, 1], [2]] : " +
         ty({"1", std::to_string(C), "L"}) + " into " +
         ty({std::to_string(C), "L"}));
    return n;
  }

  /// x[C, L] * rsqrt(mean_c(x^2) + eps) * w[C]
  std::string rmsnorm(const std::string &x, const std::string &w, int64_t C,
                      double eps) {
    std::string xt = ty({std::to_string(C), "L"}), st = ty({"L"});
    std::string acc = zeros(st), sq = fresh("sumsq");
    line(sq + " = linalg.generic {indexing_maps = [affine_map<(c, l) -> (c, "
              "l)>, affine_map<(c, l) -> (l)>], iterator_types = "
              "[\"reduction\", \"parallel\"]} ins(" +
         x + " : " + xt + ") outs(" + acc + " : " + st + ") {");
    line("^bb0(%a: f32, %s: f32):");
    line("  %m = arith.mulf %a, %a : f32");
    line("  %n = arith.addf %s, %m : f32");
    line("  linalg.yield %n : f32");
    line("} -> " + st);
    std::string inv = constF32(1.0 / double(C)), ep = constF32(eps),
                one = constF32(1.0);
    std::string out = empty(xt), n = fresh("normed");
    line(n + " = linalg.generic {indexing_maps = [affine_map<(c, l) -> (c, "
             "l)>, affine_map<(c, l) -> (l)>, affine_map<(c, l) -> (c)>, "
             "affine_map<(c, l) -> (c, l)>], iterator_types = [\"parallel\", "
             "\"parallel\"]} ins(" +
         x + ", " + sq + ", " + w + " : " + xt + ", " + st + ", " +
         ty({std::to_string(C)}) + ") outs(" + out + " : " + xt + ") {");
    line("^bb0(%a: f32, %s: f32, %g: f32, %o: f32):");
    line("  %mean = arith.mulf %s, " + inv + " : f32");
    line("  %v = arith.addf %mean, " + ep + " : f32");
    line("  %r = math.sqrt %v : f32");
    line("  %ir = arith.divf " + one + ", %r : f32");
    line("  %y = arith.mulf %a, %ir : f32");
    line("  %yg = arith.mulf %y, %g : f32");
    line("  linalg.yield %yg : f32");
    line("} -> " + xt);
    return n;
  }

  /// Embedding rows of `tokens` as columns: out[d, l] = emb[tokens[l], d];
  /// token ids are clamped to the vocabulary (the driver rejects them first).
  std::string embed(const std::string &tokens, const std::string &emb,
                    int64_t V, int64_t Dm) {
    std::string xt = ty({std::to_string(Dm), "L"});
    std::string out = empty(xt), n = fresh("x");
    line(n + " = linalg.generic {indexing_maps = [affine_map<(d, l) -> (d, "
             "l)>], iterator_types = [\"parallel\", \"parallel\"]} outs(" +
         out + " : " + xt + ") {");
    line("^bb0(%o: f32):");
    line("  %d = linalg.index 0 : index");
    line("  %l = linalg.index 1 : index");
    line("  %t = tensor.extract " + tokens + "[%l] : " + ty({"L"}, "i64"));
    line("  %ti = arith.index_cast %t : i64 to index");
    line("  %lo = arith.constant 0 : index");
    line("  %hi = arith.constant " + std::to_string(V - 1) + " : index");
    line("  %t1 = arith.maxsi %ti, %lo : index");
    line("  %t2 = arith.minsi %t1, %hi : index");
    line("  %v = tensor.extract " + emb + "[%t2, %d] : " +
         ty({std::to_string(V), std::to_string(Dm)}));
    line("  linalg.yield %v : f32");
    line("} -> " + xt);
    return n;
  }

  /// x[R, L] -> [L, R]
  std::string transpose(const std::string &x, int64_t R) {
    std::string in = ty({std::to_string(R), "L"}),
                out = ty({"L", std::to_string(R)});
    std::string e = empty(out), n = fresh("tr");
    line(n + " = linalg.transpose ins(" + x + " : " + in + ") outs(" + e +
         " : " + out + ") permutation = [1, 0]");
    return n;
  }
  /// [L, R] -> [R, L]
  std::string transposeBack(const std::string &x, int64_t R) {
    std::string in = ty({"L", std::to_string(R)}),
                out = ty({std::to_string(R), "L"});
    std::string e = empty(out), n = fresh("tr");
    line(n + " = linalg.transpose ins(" + x + " : " + in + ") outs(" + e +
         " : " + out + ") permutation = [1, 0]");
    return n;
  }
  /// Channel-major [A*B, L] -> token-major [1, L, A, B] (B = 0: [1, L, A]).
  std::string tokenMajor(const std::string &x, int64_t A, int64_t B) {
    int64_t R = B ? A * B : A;
    std::string t = transpose(x, R), n = fresh("tm");
    std::string sA = std::to_string(A), sB = std::to_string(B);
    if (B)
      line(n + " = tensor.expand_shape " + t +
           " [[0, 1], [2, 3]] output_shape [1, " + lenOrStatic() + ", " + sA +
           ", " + sB + "] : " + ty({"L", std::to_string(R)}) + " into " +
           ty({"1", "L", sA, sB}));
    else
      line(n + " = tensor.expand_shape " + t +
           " [[0, 1], [2]] output_shape [1, " + lenOrStatic() + ", " + sA +
           "] : " + ty({"L", sA}) + " into " + ty({"1", "L", sA}));
    return n;
  }
  /// Token-major [1, L, A, B] -> channel-major [A*B, L].
  std::string channelMajor(const std::string &x, int64_t A, int64_t B) {
    std::string n = fresh("cm");
    std::string flat = ty({"L", std::to_string(A * B)});
    line(n + " = tensor.collapse_shape " + x + " [[0, 1], [2, 3]] : " +
         ty({"1", "L", std::to_string(A), std::to_string(B)}) + " into " +
         flat);
    return transposeBack(n, A * B);
  }

  /// Mamba-2's RMSNormGated (norm_before_gate = False) on channel-major
  /// y, z [E, L]: g = y * silu(z), then RMS-normalised over each group of
  /// E / G channels and scaled by w[E].
  std::string gatedGroupNorm(const std::string &y, const std::string &z,
                             const std::string &w, int64_t E, int64_t G,
                             double eps) {
    int64_t S = E / G;
    std::string xt = ty({std::to_string(E), "L"});
    std::string ge = empty(xt), g = fresh("gated");
    line(g + " = linalg.generic {indexing_maps = [affine_map<(c, l) -> (c, "
             "l)>, affine_map<(c, l) -> (c, l)>, affine_map<(c, l) -> (c, "
             "l)>], iterator_types = [\"parallel\", \"parallel\"]} ins(" +
         y + ", " + z + " : " + xt + ", " + xt + ") outs(" + ge + " : " + xt +
         ") {");
    line("^bb0(%a: f32, %b: f32, %o: f32):");
    line("  %one = arith.constant 1.0 : f32");
    line("  %nb = arith.negf %b : f32");
    line("  %e = math.exp %nb : f32");
    line("  %d = arith.addf %one, %e : f32");
    line("  %s = arith.divf %b, %d : f32");
    line("  %r = arith.mulf %a, %s : f32");
    line("  linalg.yield %r : f32");
    line("} -> " + xt);
    std::string sG = std::to_string(G), sS = std::to_string(S);
    std::string gt = ty({sG, sS, "L"}), st = ty({sG, "L"});
    std::string g3 = fresh("g3");
    line(g3 + " = tensor.expand_shape " + g + " [[0, 1], [2]] output_shape [" +
         sG + ", " + sS + ", " + lenOrStatic() + "] : " + xt + " into " + gt);
    std::string w2 = fresh("gw");
    line(w2 + " = tensor.expand_shape " + w + " [[0, 1]] output_shape [" + sG +
         ", " + sS + "] : " + ty({std::to_string(E)}) + " into " +
         ty({sG, sS}));
    std::string acc = zeros(st), sq = fresh("sumsq");
    line(sq + " = linalg.generic {indexing_maps = [affine_map<(g, s, l) -> "
              "(g, s, l)>, affine_map<(g, s, l) -> (g, l)>], iterator_types = "
              "[\"parallel\", \"reduction\", \"parallel\"]} ins(" +
         g3 + " : " + gt + ") outs(" + acc + " : " + st + ") {");
    line("^bb0(%a: f32, %s: f32):");
    line("  %m = arith.mulf %a, %a : f32");
    line("  %n = arith.addf %s, %m : f32");
    line("  linalg.yield %n : f32");
    line("} -> " + st);
    std::string inv = constF32(1.0 / double(S)), ep = constF32(eps),
                one = constF32(1.0);
    std::string out = empty(gt), n = fresh("gnormed");
    line(n + " = linalg.generic {indexing_maps = [affine_map<(g, s, l) -> (g, "
             "s, l)>, affine_map<(g, s, l) -> (g, l)>, affine_map<(g, s, l) -> "
             "(g, s)>, affine_map<(g, s, l) -> (g, s, l)>], iterator_types = "
             "[\"parallel\", \"parallel\", \"parallel\"]} ins(" +
         g3 + ", " + sq + ", " + w2 + " : " + gt + ", " + st + ", " +
         ty({sG, sS}) + ") outs(" + out + " : " + gt + ") {");
    line("^bb0(%a: f32, %s: f32, %k: f32, %o: f32):");
    line("  %mean = arith.mulf %s, " + inv + " : f32");
    line("  %v = arith.addf %mean, " + ep + " : f32");
    line("  %r = math.sqrt %v : f32");
    line("  %ir = arith.divf " + one + ", %r : f32");
    line("  %y = arith.mulf %a, %ir : f32");
    line("  %yk = arith.mulf %y, %k : f32");
    line("  linalg.yield %yk : f32");
    line("} -> " + gt);
    std::string flat = fresh("gflat");
    line(flat + " = tensor.collapse_shape " + n + " [[0, 1], [2]] : " + gt +
         " into " + xt);
    return flat;
  }

  /// Channel-major [H*d, L] -> per-head token-major [1, H, L, d].
  std::string headsMajor(const std::string &x, int64_t H, int64_t d) {
    std::string sH = std::to_string(H), sd = std::to_string(d);
    std::string hdl = ty({sH, sd, "L"}), hld = ty({sH, "L", sd});
    std::string a = fresh("hd");
    line(a + " = tensor.expand_shape " + x + " [[0, 1], [2]] output_shape [" +
         sH + ", " + sd + ", " + lenOrStatic() + "] : " +
         ty({std::to_string(H * d), "L"}) + " into " + hdl);
    std::string e = empty(hld), t = fresh("hl");
    line(t + " = linalg.transpose ins(" + a + " : " + hdl + ") outs(" + e +
         " : " + hld + ") permutation = [0, 2, 1]");
    std::string n = fresh("heads");
    line(n + " = tensor.expand_shape " + t +
         " [[0, 1], [2], [3]] output_shape [1, " + sH + ", " + lenOrStatic() +
         ", " + sd + "] : " + hld + " into " + ty({"1", sH, "L", sd}));
    return n;
  }
  /// [1, H, L, d] -> channel-major [H*d, L].
  std::string fromHeads(const std::string &x, int64_t H, int64_t d) {
    std::string sH = std::to_string(H), sd = std::to_string(d);
    std::string hdl = ty({sH, sd, "L"}), hld = ty({sH, "L", sd});
    std::string a = fresh("hl");
    line(a + " = tensor.collapse_shape " + x + " [[0, 1], [2], [3]] : " +
         ty({"1", sH, "L", sd}) + " into " + hld);
    std::string e = empty(hdl), t = fresh("hd");
    line(t + " = linalg.transpose ins(" + a + " : " + hld + ") outs(" + e +
         " : " + hdl + ") permutation = [0, 2, 1]");
    std::string n = fresh("chan");
    line(n + " = tensor.collapse_shape " + t + " [[0, 1], [2]] : " + hdl +
         " into " + ty({std::to_string(H * d), "L"}));
    return n;
  }
  /// Rotary position embedding (the rotate-half pairing of HuggingFace
  /// Llama) of x [1, H, L, d] at positions offset + l; angles in f64.
  std::string rope(const std::string &x, int64_t H, int64_t d, double theta,
                   const std::string &offset) {
    std::string t = ty({"1", std::to_string(H), "L", std::to_string(d)});
    std::string e = empty(t), n = fresh("rope");
    line(n + " = linalg.generic {indexing_maps = [affine_map<(b, h, l, j) -> "
             "(b, h, l, j)>, affine_map<(b, h, l, j) -> (b, h, l, j)>], "
             "iterator_types = [\"parallel\", \"parallel\", \"parallel\", "
             "\"parallel\"]} ins(" +
         x + " : " + t + ") outs(" + e + " : " + t + ") {");
    line("^bb0(%a: f32, %o: f32):");
    line("  %b = linalg.index 0 : index");
    line("  %h = linalg.index 1 : index");
    line("  %l = linalg.index 2 : index");
    line("  %j = linalg.index 3 : index");
    line("  %half = arith.constant " + std::to_string(d / 2) + " : index");
    line("  %lo = arith.cmpi ult, %j, %half : index");
    line("  %i0 = arith.subi %j, %half : index");
    line("  %ri = arith.select %lo, %j, %i0 : index");
    line("  %j1 = arith.addi %j, %half : index");
    line("  %partner = arith.select %lo, %j1, %i0 : index");
    line("  %xp = tensor.extract " + x + "[%b, %h, %l, %partner] : " + t);
    if (!posTensor.empty()) {
      line("  %pi = tensor.extract " + posTensor + "[%l] : " + ty({"L"}, "i64"));
    } else if (offset.empty()) {
      line("  %pi = arith.index_cast %l : index to i64");
    } else {
      line("  %p0 = arith.addi %l, " + offset + " : index");
      line("  %pi = arith.index_cast %p0 : index to i64");
    }
    line("  %pf = arith.sitofp %pi : i64 to f64");
    line("  %ii = arith.index_cast %ri : index to i64");
    line("  %if = arith.sitofp %ii : i64 to f64");
    line("  %k = arith.constant " +
         llvm::formatv("{0:e17}", -2.0 * std::log(theta) / double(d)).str() +
         " : f64");
    line("  %ke = arith.mulf %if, %k : f64");
    line("  %freq = math.exp %ke : f64");
    line("  %ang = arith.mulf %pf, %freq : f64");
    line("  %c64 = math.cos %ang : f64");
    line("  %s64 = math.sin %ang : f64");
    line("  %c = arith.truncf %c64 : f64 to f32");
    line("  %s = arith.truncf %s64 : f64 to f32");
    line("  %xps = arith.mulf %xp, %s : f32");
    line("  %neg = arith.negf %xps : f32");
    line("  %rot = arith.select %lo, %neg, %xps : f32");
    line("  %ac = arith.mulf %a, %c : f32");
    line("  %r = arith.addf %ac, %rot : f32");
    line("  linalg.yield %r : f32");
    line("} -> " + t);
    return n;
  }
  /// silu(g) * u on [F, L].
  std::string swiglu(const std::string &g, const std::string &u, int64_t F) {
    std::string t = ty({std::to_string(F), "L"});
    std::string e = empty(t), n = fresh("swiglu");
    line(n + " = linalg.generic {indexing_maps = [affine_map<(c, l) -> (c, "
             "l)>, affine_map<(c, l) -> (c, l)>, affine_map<(c, l) -> (c, "
             "l)>], iterator_types = [\"parallel\", \"parallel\"]} ins(" +
         g + ", " + u + " : " + t + ", " + t + ") outs(" + e + " : " + t +
         ") {");
    line("^bb0(%a: f32, %b: f32, %o: f32):");
    line("  %one = arith.constant 1.0 : f32");
    line("  %na = arith.negf %a : f32");
    line("  %e = math.exp %na : f32");
    line("  %d = arith.addf %one, %e : f32");
    line("  %s = arith.divf %a, %d : f32");
    line("  %r = arith.mulf %s, %b : f32");
    line("  linalg.yield %r : f32");
    line("} -> " + t);
    return n;
  }

  std::string lenOrStatic() const { return dynamic() ? lenVal : L; }

  /// Packed batches: layer `i`'s states [S, dims...] of a state pool
  /// [NL, S, dims...] whose S (`nseq`) is dynamic, and back.
  std::string poolType(int64_t NL, llvm::ArrayRef<int64_t> dims,
                       bool stacked) const {
    std::string t = stacked ? "tensor<" + std::to_string(NL) + "x" + S + "x"
                            : "tensor<" + S + "x";
    for (int64_t d : dims)
      t += std::to_string(d) + "x";
    return t + "f32>";
  }
  std::string poolSlice(const std::string &w, const std::string &i,
                        int64_t NL, llvm::ArrayRef<int64_t> dims) {
    std::string offs = i + ", 0", sizes = "1, " + (S == "?" ? nseq : S),
                strides = "1, 1";
    for (int64_t d : dims) {
      offs += ", 0";
      sizes += ", " + std::to_string(d);
      strides += ", 1";
    }
    std::string n = fresh("ps");
    line(n + " = tensor.extract_slice " + w + "[" + offs + "] [" + sizes +
         "] [" + strides + "] : " + poolType(NL, dims, true) + " to " +
         poolType(NL, dims, false));
    return n;
  }
  std::string poolInsert(const std::string &v, const std::string &into,
                         const std::string &i, int64_t NL,
                         llvm::ArrayRef<int64_t> dims) {
    std::string offs = i + ", 0", sizes = "1, " + (S == "?" ? nseq : S),
                strides = "1, 1";
    for (int64_t d : dims) {
      offs += ", 0";
      sizes += ", " + std::to_string(d);
      strides += ", 1";
    }
    std::string n = fresh("pi");
    line(n + " = tensor.insert_slice " + v + " into " + into + "[" + offs +
         "] [" + sizes + "] [" + strides + "] : " + poolType(NL, dims, false) +
         " into " + poolType(NL, dims, true));
    return n;
  }
  /// A layer's initial state: [1, dims...] of the stacked state, or
  /// [S, dims...] of a packed batch's pool.
  std::string stateIn(const std::string &w, const std::string &i, int64_t NL,
                      std::vector<int64_t> dims) {
    return packed() ? poolSlice(w, i, NL, dims)
                    : layer(w, i, NL, dims, /*keepUnit=*/true);
  }
  std::string stateOut(const std::string &v, const std::string &into,
                       const std::string &i, int64_t NL,
                       std::vector<int64_t> dims) {
    return packed() ? poolInsert(v, into, i, NL, dims)
                    : insertLayer(v, into, i, NL, dims);
  }
  /// The type of one layer's state of a sequence op.
  std::string stateType(llvm::ArrayRef<int64_t> dims) const {
    std::string t = packed() ? "tensor<" + S + "x" : "tensor<1x";
    for (int64_t d : dims)
      t += std::to_string(d) + "x";
    return t + "f32>";
  }
  bool packed() const { return !nseq.empty(); }
  /// " cu_seqlens(%cu_seqlens)" in a packed batch.
  std::string cuOperand() const {
    return packed() ? " cu_seqlens(%cu_seqlens)" : "";
  }
  std::string cuType() const { return packed() ? ", " + cuT() : ""; }
  /// cu_seqlens: [S + 1] i64.
  std::string cuT() const {
    return "tensor<" + (S == "?" ? S : std::to_string(std::stoll(S) + 1)) +
           "xi64>";
  }

  std::string L;            ///< "?" or a static length
  std::string lenVal;       ///< SSA value of the length when dynamic
  std::string pos;          ///< SSA index of the first position ("" = 0)
  /// The tokens are one rank's slice of a prompt prefilled across ranks,
  /// starting at `pos`: RoPE at their positions, attention within them
  /// (the ring brings the keys before), keys and values to cache slots
  /// [0, L) (gathered onto the decoding rank afterwards).
  bool promptSlice = false;
  std::string nseq;         ///< packed batch: SSA index of S ("" = none)
  std::string S = "?";      ///< packed batch: S as a type dimension
  /// Packed batch: the position of every token ([L] i64, for RoPE), and
  /// whether the tokens are one decode step per sequence (L = S).
  std::string posTensor;
  bool batchStep = false;
  std::string body;
  int counter = 0;
  WeightPrecision precision;
  /// Slices of low-precision projections: element type and row scales
  /// (i8; "" otherwise).
  std::map<std::string, std::pair<std::string, std::string>> lowPrecision;
};

std::string join(llvm::ArrayRef<std::string> parts, llvm::StringRef sep) {
  return llvm::join(parts.begin(), parts.end(), sep);
}

/// One stacked weight argument of the program.
struct WeightArg {
  std::string name;
  std::vector<int64_t> shape; // with the leading n_layer for stacked ones
  std::string elt = "f32";
};

std::string tensorType(llvm::ArrayRef<int64_t> shape,
                       llvm::StringRef elt = "f32") {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + elt.str() + ">";
}

/// A state stacked over layers, [NL, dims...], as the pool of a packed
/// batch: [NL, S, dims...] with S dynamic.
std::string poolTypeOf(const WeightArg &state, const std::string &S) {
  std::string s = "tensor<" + std::to_string(state.shape[0]) + "x" + S + "x";
  for (size_t i = 1; i < state.shape.size(); ++i)
    s += std::to_string(state.shape[i]) + "x";
  return s + "f32>";
}

//===----------------------------------------------------------------------===//
// Mamba-1
//===----------------------------------------------------------------------===//

std::vector<WeightArg> mamba1Weights(const ModelConfig &c) {
  int64_t NL = c.nLayer, E = c.dInner, N = c.dState;
  return {{"embedding", {c.vocab, c.dModel}},
          {"norm", {NL, c.dModel}},
          {"in_proj", {NL, 2 * E, c.dModel}},
          {"conv_weight", {NL, E, c.dConv}},
          {"conv_bias", {NL, E}},
          {"x_proj", {NL, c.dtRank + 2 * N, E}},
          {"dt_proj_weight", {NL, E, c.dtRank}},
          {"dt_proj_bias", {NL, E}},
          {"A_log", {NL, E, N}},
          {"D", {NL, E}},
          {"out_proj", {NL, c.dModel, E}},
          {"norm_f", {c.dModel}},
          {"lm_head", {c.vocab, c.dModel}}};
}

std::vector<WeightArg> mamba1States(const ModelConfig &c) {
  return {{"conv_state", {c.nLayer, c.dInner, c.dConv - 1}},
          {"ssm_state", {c.nLayer, c.dInner, c.dState}}};
}

/// The mixer of one layer on x[Dm, L]; returns the residual stream after
/// the layer and updates the stacked states.
void mamba1Layer(Emitter &e, const ModelConfig &c, const std::string &i,
                 std::string &x, std::string &convState,
                 std::string &ssmState) {
  int64_t NL = c.nLayer, Dm = c.dModel, E = c.dInner, N = c.dState,
          R = c.dtRank, W = c.dConv;
  std::string sE = std::to_string(E), sN = std::to_string(N);
  std::string normW = e.layer("%norm", i, NL, {Dm});
  std::string xn = e.rmsnorm(x, normW, Dm, c.normEps);
  std::string xz = e.matmul(e.layer("%in_proj", i, NL, {2 * E, Dm}), 2 * E, Dm,
                            xn);
  std::string xin = e.batch(e.rows(xz, 2 * E, 0, E), E);
  std::string z = e.batch(e.rows(xz, 2 * E, E, E), E);
  std::string cw = e.layer("%conv_weight", i, NL, {E, W});
  std::string cb = e.layer("%conv_bias", i, NL, {E});
  std::string cs = e.stateIn(convState, i, NL, {E, W - 1});
  std::string xc = e.fresh("xc"), csNew = e.fresh("cs");
  std::string bt = e.ty({"1", sE, "L"});
  std::string cst = e.stateType({E, W - 1});
  e.line(xc + ", " + csNew + " = ssm.causal_conv1d " + xin + ", " + cw +
         " bias(" + cb + ") initial_state(" + cs + ")" + e.cuOperand() +
         " silu : (" + bt + ", " + tensorType({E, W}) + ", " +
         tensorType({E}) + ", " + cst + e.cuType() + ") -> (" + bt + ", " +
         cst + ")");
  std::string xc2 = e.unbatch(xc, E);
  std::string dbl = e.matmul(e.layer("%x_proj", i, NL, {R + 2 * N, E}),
                             R + 2 * N, E, xc2);
  std::string dt = e.rows(dbl, R + 2 * N, 0, R);
  std::string B = e.batch(e.rows(dbl, R + 2 * N, R, N), N);
  std::string C = e.batch(e.rows(dbl, R + 2 * N, R + N, N), N);
  std::string delta =
      e.batch(e.matmul(e.layer("%dt_proj_weight", i, NL, {E, R}), E, R, dt), E);
  std::string aLog = e.layer("%A_log", i, NL, {E, N});
  std::string ea = e.fresh("expA"), A = e.fresh("A");
  e.line(ea + " = math.exp " + aLog + " : " + tensorType({E, N}));
  e.line(A + " = arith.negf " + ea + " : " + tensorType({E, N}));
  std::string D = e.layer("%D", i, NL, {E});
  std::string dtb = e.layer("%dt_proj_bias", i, NL, {E});
  std::string h0 = e.stateIn(ssmState, i, NL, {E, N});
  std::string y = e.fresh("y"), h = e.fresh("h");
  std::string nt = e.ty({"1", sN, "L"}), ht = e.stateType({E, N});
  e.line(y + ", " + h + " = ssm.selective_scan " + xc + ", " + delta + ", " +
         A + ", " + B + ", " + C + " D(" + D + ") z(" + z + ") delta_bias(" +
         dtb + ") h0(" + h0 + ")" + e.cuOperand() + " delta_softplus : (" +
         bt + ", " + bt + ", " + tensorType({E, N}) + ", " + nt + ", " + nt +
         ", " + tensorType({E}) + ", " + bt + ", " + tensorType({E}) + ", " +
         ht + e.cuType() + ") -> (" + bt + ", " + ht + ")");
  std::string out = e.matmul(e.layer("%out_proj", i, NL, {Dm, E}), Dm, E,
                             e.unbatch(y, E));
  std::string xNew = e.fresh("res");
  e.line(xNew + " = arith.addf " + x + ", " + out + " : " +
         e.ty({std::to_string(Dm), "L"}));
  convState = e.stateOut(csNew, convState, i, NL, {E, W - 1});
  ssmState = e.stateOut(h, ssmState, i, NL, {E, N});
  x = xNew;
}

//===----------------------------------------------------------------------===//
// Mamba-2
//===----------------------------------------------------------------------===//

int64_t mamba2ConvDim(const ModelConfig &c) {
  return c.dInner + 2 * c.nGroups * c.dState;
}

std::vector<WeightArg> mamba2Weights(const ModelConfig &c) {
  int64_t NL = c.nLayer, E = c.dInner, H = c.nHeads(), CD = mamba2ConvDim(c);
  return {{"embedding", {c.vocab, c.dModel}},
          {"norm", {NL, c.dModel}},
          {"in_proj", {NL, CD + E + H, c.dModel}},
          {"conv_weight", {NL, CD, c.dConv}},
          {"conv_bias", {NL, CD}},
          {"dt_bias", {NL, H}},
          {"A_log", {NL, H}},
          {"D", {NL, H}},
          {"gate_norm", {NL, E}},
          {"out_proj", {NL, c.dModel, E}},
          {"norm_f", {c.dModel}},
          {"lm_head", {c.vocab, c.dModel}}};
}

std::vector<WeightArg> mamba2States(const ModelConfig &c) {
  return {{"conv_state", {c.nLayer, mamba2ConvDim(c), c.dConv - 1}},
          {"ssm_state", {c.nLayer, c.nHeads(), c.headDim, c.dState}}};
}

/// mamba_ssm's Mamba2 mixer (no MLP split, D per head, gated RMSNorm).
void mamba2Layer(Emitter &e, const ModelConfig &c, const std::string &i,
                 std::string &x, std::string &convState,
                 std::string &ssmState) {
  int64_t NL = c.nLayer, Dm = c.dModel, E = c.dInner, N = c.dState,
          W = c.dConv, H = c.nHeads(), P = c.headDim, G = c.nGroups,
          CD = mamba2ConvDim(c), DIP = CD + E + H;
  std::string sCD = std::to_string(CD);
  std::string normW = e.layer("%norm", i, NL, {Dm});
  std::string xn = e.rmsnorm(x, normW, Dm, c.normEps);
  std::string zxbcdt =
      e.matmul(e.layer("%in_proj", i, NL, {DIP, Dm}), DIP, Dm, xn);
  std::string z = e.rows(zxbcdt, DIP, 0, E);
  std::string xBC = e.batch(e.rows(zxbcdt, DIP, E, CD), CD);
  std::string dtRaw = e.rows(zxbcdt, DIP, E + CD, H);
  std::string cw = e.layer("%conv_weight", i, NL, {CD, W});
  std::string cb = e.layer("%conv_bias", i, NL, {CD});
  std::string cs = e.stateIn(convState, i, NL, {CD, W - 1});
  std::string xc = e.fresh("xc"), csNew = e.fresh("cs");
  std::string bt = e.ty({"1", sCD, "L"});
  std::string cst = e.stateType({CD, W - 1});
  e.line(xc + ", " + csNew + " = ssm.causal_conv1d " + xBC + ", " + cw +
         " bias(" + cb + ") initial_state(" + cs + ")" + e.cuOperand() +
         " silu : (" + bt + ", " + tensorType({CD, W}) + ", " +
         tensorType({CD}) + ", " + cst + e.cuType() + ") -> (" + bt + ", " +
         cst + ")");
  std::string xc2 = e.unbatch(xc, CD);
  std::string xs = e.tokenMajor(e.rows(xc2, CD, 0, E), H, P);
  std::string Bs = e.tokenMajor(e.rows(xc2, CD, E, G * N), G, N);
  std::string Cs = e.tokenMajor(e.rows(xc2, CD, E + G * N, G * N), G, N);
  std::string dt = e.tokenMajor(dtRaw, H, 0);
  std::string aLog = e.layer("%A_log", i, NL, {H});
  std::string ea = e.fresh("expA"), A = e.fresh("A");
  e.line(ea + " = math.exp " + aLog + " : " + tensorType({H}));
  e.line(A + " = arith.negf " + ea + " : " + tensorType({H}));
  std::string D = e.layer("%D", i, NL, {H});
  std::string dtb = e.layer("%dt_bias", i, NL, {H});
  std::string h0 = e.stateIn(ssmState, i, NL, {H, P, N});
  std::string y = e.fresh("y"), h = e.fresh("h");
  std::string sH = std::to_string(H), sP = std::to_string(P),
              sG = std::to_string(G), sN = std::to_string(N);
  std::string xt = e.ty({"1", "L", sH, sP}), gt = e.ty({"1", "L", sG, sN}),
              dtt = e.ty({"1", "L", sH}), ht = e.stateType({H, P, N}),
              pt = tensorType({H});
  e.line(y + ", " + h + " = ssm.ssd " + xs + ", " + dt + ", " + A + ", " + Bs +
         ", " + Cs + " D(" + D + ") dt_bias(" + dtb + ") h0(" + h0 + ")" +
         e.cuOperand() + " dt_softplus : (" + xt + ", " + dtt + ", " + pt +
         ", " + gt + ", " + gt + ", " + pt + ", " + pt + ", " + ht +
         e.cuType() + ") -> (" + xt + ", " + ht + ")");
  std::string yc = e.channelMajor(y, H, P);
  std::string g = e.gatedGroupNorm(yc, z, e.layer("%gate_norm", i, NL, {E}),
                                   E, G, c.normEps);
  std::string out = e.matmul(e.layer("%out_proj", i, NL, {Dm, E}), Dm, E, g);
  std::string xNew = e.fresh("res");
  e.line(xNew + " = arith.addf " + x + ", " + out + " : " +
         e.ty({std::to_string(Dm), "L"}));
  convState = e.stateOut(csNew, convState, i, NL, {CD, W - 1});
  ssmState = e.stateOut(h, ssmState, i, NL, {H, P, N});
  x = xNew;
}

//===----------------------------------------------------------------------===//
// Transformer (Llama layout)
//===----------------------------------------------------------------------===//

std::vector<WeightArg> transformerWeights(const ModelConfig &c) {
  int64_t NL = c.nLayer, Dm = c.dModel, q = c.attnHeads * c.headDim,
          kv = c.kvHeads * c.headDim, F = c.ffnDim;
  return {{"embedding", {c.vocab, Dm}}, {"attn_norm", {NL, Dm}},
          {"wq", {NL, q, Dm}},          {"wk", {NL, kv, Dm}},
          {"wv", {NL, kv, Dm}},         {"wo", {NL, Dm, q}},
          {"mlp_norm", {NL, Dm}},       {"w_gate", {NL, F, Dm}},
          {"w_up", {NL, F, Dm}},        {"w_down", {NL, Dm, F}},
          {"norm_f", {Dm}},             {"lm_head", {c.vocab, Dm}}};
}

std::vector<WeightArg> transformerStates(const ModelConfig &c) {
  return {{"k_cache", {c.nLayer, c.kvHeads, c.context, c.headDim}},
          {"v_cache", {c.nLayer, c.kvHeads, c.context, c.headDim}}};
}

/// Pre-norm attention (RoPE, grouped-query, causal) and SwiGLU MLP. The
/// sequence form attends within the prompt and writes its keys and values
/// to cache slots [0, L); the step form (L = 1) is ssm.attention_step at
/// position `e.pos`.
void transformerLayer(Emitter &e, const ModelConfig &c, const std::string &i,
                      std::string &x, std::string &kCache,
                      std::string &vCache) {
  int64_t NL = c.nLayer, Dm = c.dModel, H = c.attnHeads, Hk = c.kvHeads,
          d = c.headDim, F = c.ffnDim, C = c.context;
  std::string sH = std::to_string(H), sHk = std::to_string(Hk),
              sd = std::to_string(d), sC = std::to_string(C);
  std::string xn = e.rmsnorm(x, e.layer("%attn_norm", i, NL, {Dm}), Dm,
                             c.normEps);
  std::string q = e.matmul(e.layer("%wq", i, NL, {H * d, Dm}), H * d, Dm, xn);
  std::string k = e.matmul(e.layer("%wk", i, NL, {Hk * d, Dm}), Hk * d, Dm, xn);
  std::string v = e.matmul(e.layer("%wv", i, NL, {Hk * d, Dm}), Hk * d, Dm, xn);
  std::string q4 = e.rope(e.headsMajor(q, H, d), H, d, c.ropeTheta, e.pos);
  std::string k4 = e.rope(e.headsMajor(k, Hk, d), Hk, d, c.ropeTheta, e.pos);
  std::string v4 = e.headsMajor(v, Hk, d);
  std::string kc, vc;
  if (!e.packed()) {
    kc = e.layer(kCache, i, NL, {Hk, C, d}, /*keepUnit=*/true);
    vc = e.layer(vCache, i, NL, {Hk, C, d}, /*keepUnit=*/true);
  }
  std::string cacheT = tensorType({1, Hk, C, d});
  std::string qT = e.ty({"1", sH, "L", sd}), kT = e.ty({"1", sHk, "L", sd});
  std::string o4, kcNew, vcNew;
  if (e.packed()) {
    // A packed batch of S sequences with caches [S, Hk, C, d] per layer.
    std::string poolT = e.poolType(NL, {Hk, C, d}, false);
    std::string kp = e.poolSlice(kCache, i, NL, {Hk, C, d});
    std::string vp = e.poolSlice(vCache, i, NL, {Hk, C, d});
    if (e.batchStep) {
      // One token per sequence (L = S) at positions[s]: [1, H, S, d] <->
      // the step's [S, H, d].
      auto toStep = [&](const std::string &t4, const std::string &heads) {
        std::string hsd = e.ty({heads, "L", sd}), shd = e.ty({"L", heads, sd});
        std::string a = e.fresh("hsd");
        e.line(a + " = tensor.collapse_shape " + t4 + " [[0, 1], [2], [3]] : " +
               e.ty({"1", heads, "L", sd}) + " into " + hsd);
        std::string em = e.empty(shd), n = e.fresh("shd");
        e.line(n + " = linalg.transpose ins(" + a + " : " + hsd + ") outs(" +
               em + " : " + shd + ") permutation = [1, 0, 2]");
        return n;
      };
      std::string q3 = toStep(q4, sH), k3 = toStep(k4, sHk),
                  v3 = toStep(v4, sHk);
      std::string t3q = e.ty({"L", sH, sd}), t3k = e.ty({"L", sHk, sd});
      std::string o3 = e.fresh("attn");
      kcNew = e.fresh("kc");
      vcNew = e.fresh("vc");
      e.line(o3 + ", " + kcNew + ", " + vcNew + " = ssm.attention_step " + q3 +
             ", " + k3 + ", " + v3 + ", " + kp + ", " + vp +
             " positions(%positions) : (" + t3q + ", " + t3k + ", " + t3k +
             ", " + poolT + ", " + poolT + ", " + e.ty({"L"}, "i64") +
             ") -> (" + t3q +
             ", " + poolT + ", " + poolT + ")");
      std::string hsd = e.ty({sH, "L", sd});
      std::string em = e.empty(hsd), back = e.fresh("hsd");
      e.line(back + " = linalg.transpose ins(" + o3 + " : " + t3q +
             ") outs(" + em + " : " + hsd + ") permutation = [1, 0, 2]");
      o4 = e.fresh("attn4");
      e.line(o4 + " = tensor.expand_shape " + back +
             " [[0, 1], [2], [3]] output_shape [1, " + sH + ", " +
             e.lenOrStatic() +
             ", " + sd + "] : " + hsd + " into " + qT);
    } else {
      // New sequences packed along L: attention within each, then each
      // sequence's keys and values to slots [0, len) of its cache row.
      o4 = e.fresh("attn");
      e.line(o4 + " = ssm.attention " + q4 + ", " + k4 + ", " + v4 +
             " causal cu_seqlens_q(%cu_seqlens) cu_seqlens_k(%cu_seqlens) : (" +
             qT + ", " + kT + ", " + kT +
             ", " + e.cuT() + ", " + e.cuT() + ") -> " + qT);
      std::string c0 = e.constIndex(0), c1 = e.constIndex(1),
                  cC = e.constIndex(C);
      std::string loop = e.fresh("store"), sv = e.fresh("seq"),
                  ka = e.fresh("kacc"), va = e.fresh("vacc");
      e.line(loop + ":2 = scf.for " + sv + " = " + c0 + " to " + e.nseq +
             " step " + c1 + " iter_args(" + ka + " = " + kp + ", " + va +
             " = " + vp + ") -> (" + poolT + ", " + poolT + ") {");
      std::string s1 = e.fresh("s1"), b64 = e.fresh("b"), e64 = e.fresh("e"),
                  bI = e.fresh("bi"), eI = e.fresh("ei"), ln = e.fresh("ln"),
                  n = e.fresh("n");
      e.line("  " + s1 + " = arith.addi " + sv + ", " + c1 + " : index");
      e.line("  " + b64 + " = tensor.extract %cu_seqlens[" + sv +
             "] : " + e.cuT());
      e.line("  " + e64 + " = tensor.extract %cu_seqlens[" + s1 +
             "] : " + e.cuT());
      e.line("  " + bI + " = arith.index_cast " + b64 + " : i64 to index");
      e.line("  " + eI + " = arith.index_cast " + e64 + " : i64 to index");
      e.line("  " + ln + " = arith.subi " + eI + ", " + bI + " : index");
      e.line("  " + n + " = arith.minsi " + ln + ", " + cC + " : index");
      auto store = [&](const std::string &src, const std::string &acc) {
        std::string part = e.fresh("kv"), out = e.fresh("row");
        std::string partT = "tensor<1x" + sHk + "x?x" + sd + "xf32>";
        e.line("  " + part + " = tensor.extract_slice " + src + "[0, 0, " + bI +
               ", 0] [1, " + sHk + ", " + n + ", " + sd + "] [1, 1, 1, 1] : " +
               kT + " to " + partT);
        e.line("  " + out + " = tensor.insert_slice " + part + " into " + acc +
               "[" + sv + ", 0, 0, 0] [1, " + sHk + ", " + n + ", " + sd +
               "] [1, 1, 1, 1] : " + partT + " into " + poolT);
        return out;
      };
      std::string kOut = store(k4, ka), vOut = store(v4, va);
      e.line("  scf.yield " + kOut + ", " + vOut + " : " + poolT + ", " +
             poolT);
      e.line("}");
      kcNew = loop + "#0";
      vcNew = loop + "#1";
    }
  } else if (e.dynamic() && !e.pos.empty() && !e.promptSlice) {
    // Continuing a sequence at position `pos`: the new keys and values go
    // to slots [pos, pos + L) and the queries attend over the cache with
    // seqused_k = pos + L (bottom-right aligned: query l sits at pos + l).
    // Clamped to the cache as the prompt form is.
    std::string cC = e.constIndex(C);
    std::string at = e.fresh("at"), room = e.fresh("room"), n = e.fresh("fill");
    e.line(at + " = arith.minsi " + e.pos + ", " + cC + " : index");
    e.line(room + " = arith.subi " + cC + ", " + at + " : index");
    e.line(n + " = arith.minsi " + e.lenVal + ", " + room + " : index");
    auto store = [&](const std::string &src, const std::string &cache) {
      std::string part = e.fresh("kv"), out = e.fresh("cache");
      std::string partT = "tensor<1x" + sHk + "x?x" + sd + "xf32>";
      e.line(part + " = tensor.extract_slice " + src + "[0, 0, 0, 0] [1, " +
             sHk + ", " + n + ", " + sd + "] [1, 1, 1, 1] : " + kT + " to " +
             partT);
      e.line(out + " = tensor.insert_slice " + part + " into " + cache +
             "[0, 0, " + at + ", 0] [1, " + sHk + ", " + n + ", " + sd +
             "] [1, 1, 1, 1] : " + partT + " into " + cacheT);
      return out;
    };
    kcNew = store(k4, kc);
    vcNew = store(v4, vc);
    std::string used = e.fresh("used"), usedI = e.fresh("usedi"),
                usedT = e.fresh("seqused");
    e.line(used + " = arith.addi " + at + ", " + n + " : index");
    e.line(usedI + " = arith.index_cast " + used + " : index to i64");
    e.line(usedT + " = tensor.from_elements " + usedI + " : tensor<1xi64>");
    o4 = e.fresh("attn");
    e.line(o4 + " = ssm.attention " + q4 + ", " + kcNew + ", " + vcNew +
           " causal seqused_k(" + usedT + ") : (" + qT + ", " + cacheT + ", " +
           cacheT + ", tensor<1xi64>) -> " + qT);
  } else if (e.dynamic()) {
    o4 = e.fresh("attn");
    e.line(o4 + " = ssm.attention " + q4 + ", " + k4 + ", " + v4 +
           " {causal} : (" + qT + ", " + kT + ", " + kT + ") -> " + qT);
    // Slots [0, min(L, C)): the driver keeps prompts within the cache, the
    // clamp keeps a direct call memory-safe.
    std::string cC = e.constIndex(C), n = e.fresh("fill");
    e.line(n + " = arith.minsi " + e.lenVal + ", " + cC + " : index");
    auto store = [&](const std::string &src, const std::string &cache) {
      std::string part = e.fresh("kv"), out = e.fresh("cache");
      std::string partT = "tensor<1x" + sHk + "x?x" + sd + "xf32>";
      e.line(part + " = tensor.extract_slice " + src + "[0, 0, 0, 0] [1, " +
             sHk + ", " + n + ", " + sd + "] [1, 1, 1, 1] : " + kT + " to " +
             partT);
      e.line(out + " = tensor.insert_slice " + part + " into " + cache +
             "[0, 0, 0, 0] [1, " + sHk + ", " + n + ", " + sd +
             "] [1, 1, 1, 1] : " + partT + " into " + cacheT);
      return out;
    };
    kcNew = store(k4, kc);
    vcNew = store(v4, vc);
  } else {
    auto squeeze = [&](const std::string &t4, const std::string &heads) {
      std::string n = e.fresh("tok");
      e.line(n + " = tensor.collapse_shape " + t4 + " [[0], [1, 2], [3]] : " +
             "tensor<1x" + heads + "x1x" + sd + "xf32> into tensor<1x" +
             heads + "x" + sd + "xf32>");
      return n;
    };
    std::string q3 = squeeze(q4, sH), k3 = squeeze(k4, sHk),
                v3 = squeeze(v4, sHk);
    std::string o3 = e.fresh("attn");
    kcNew = e.fresh("kc");
    vcNew = e.fresh("vc");
    std::string t3q = "tensor<1x" + sH + "x" + sd + "xf32>",
                t3k = "tensor<1x" + sHk + "x" + sd + "xf32>";
    e.line(o3 + ", " + kcNew + ", " + vcNew + " = ssm.attention_step " + q3 +
           ", " + k3 + ", " + v3 + ", " + kc + ", " + vc + ", " + e.pos +
           " : (" + t3q + ", " + t3k + ", " + t3k + ", " + cacheT + ", " +
           cacheT + ", index) -> (" + t3q + ", " + cacheT + ", " + cacheT +
           ")");
    o4 = e.fresh("attn4");
    e.line(o4 + " = tensor.expand_shape " + o3 +
           " [[0], [1, 2], [3]] output_shape [1, " + sH + ", 1, " + sd +
           "] : " + t3q + " into " + qT);
  }
  std::string attn = e.matmul(e.layer("%wo", i, NL, {Dm, H * d}), Dm, H * d,
                              e.fromHeads(o4, H, d));
  std::string xt = e.ty({std::to_string(Dm), "L"});
  std::string x1 = e.fresh("res");
  e.line(x1 + " = arith.addf " + x + ", " + attn + " : " + xt);
  std::string xn2 = e.rmsnorm(x1, e.layer("%mlp_norm", i, NL, {Dm}), Dm,
                              c.normEps);
  std::string g = e.matmul(e.layer("%w_gate", i, NL, {F, Dm}), F, Dm, xn2);
  std::string u = e.matmul(e.layer("%w_up", i, NL, {F, Dm}), F, Dm, xn2);
  std::string down = e.matmul(e.layer("%w_down", i, NL, {Dm, F}), Dm, F,
                              e.swiglu(g, u, F));
  std::string x2 = e.fresh("res");
  e.line(x2 + " = arith.addf " + x1 + ", " + down + " : " + xt);
  kCache = e.packed() ? e.poolInsert(kcNew, kCache, i, NL, {Hk, C, d})
                      : e.insertLayer(kcNew, kCache, i, NL, {Hk, C, d});
  vCache = e.packed() ? e.poolInsert(vcNew, vCache, i, NL, {Hk, C, d})
                      : e.insertLayer(vcNew, vCache, i, NL, {Hk, C, d});
  x = x2;
}

//===----------------------------------------------------------------------===//
// Gated DeltaNet (fla layout)
//===----------------------------------------------------------------------===//

#include "apps/lm/GatedDeltaNetProgram.inc"

//===----------------------------------------------------------------------===//
// Module assembly
//===----------------------------------------------------------------------===//

using LayerFn = void (*)(Emitter &, const ModelConfig &, const std::string &,
                         std::string &, std::string &, std::string &);

/// Arguments with their names; `inPlace` ones are lent to be updated in
/// place (the decoder's states: the caller passes the same buffer as the
/// matching out-param, so a step copies no state).
std::string argList(llvm::ArrayRef<WeightArg> args, bool inPlace = false) {
  std::vector<std::string> parts;
  for (const WeightArg &a : args)
    parts.push_back("%" + a.name + ": " + tensorType(a.shape, a.elt) +
                    " {" + (inPlace ? "bufferization.writable = true, " : "") +
                    "ssm.name = \"" + a.name + "\"}");
  return join(parts, ",\n      ");
}

/// Emits the backbone (embedding of `tokens`, the layer loop over the states
/// `stateIn`, final norm) into `e`; returns the normed hidden states [Dm, L]
/// and the name of the loop, whose results #1 and #2 are the new states.
std::pair<std::string, std::string>
emitBackbone(Emitter &e, const ModelConfig &c, const std::string &tokens,
             const std::vector<WeightArg> &states,
             const std::vector<std::string> &stateIn, LayerFn layer) {
  std::string tokTy = e.ty({"L"}, "i64");
  std::string xt = e.ty({std::to_string(c.dModel), "L"});
  if (e.dynamic() && e.lenVal.empty()) {
    std::string c0 = e.constIndex(0);
    e.lenVal = e.fresh("len");
    e.line(e.lenVal + " = tensor.dim " + tokens + ", " + c0 + " : " + tokTy);
  }
  std::string x = e.embed(tokens, "%embedding", c.vocab, c.dModel);
  std::string lo = e.constIndex(0), hi = e.constIndex(c.nLayer),
              step = e.constIndex(1);
  std::vector<std::string> stateTys;
  for (const WeightArg &s : states)
    stateTys.push_back(e.packed() ? poolTypeOf(s, e.S) : tensorType(s.shape));
  std::string loop = e.fresh("layers");
  e.line(loop + ":" + std::to_string(1 + states.size()) + " = scf.for %i = " +
         lo + " to " + hi + " step " + step + " iter_args(%x = " + x +
         ", %s0 = " + stateIn[0] + ", %s1 = " + stateIn[1] + ") -> (" + xt +
         ", " + join(stateTys, ", ") + ") {");
  std::string lx = "%x", s0 = "%s0", s1 = "%s1";
  layer(e, c, "%i", lx, s0, s1);
  e.line("  scf.yield " + lx + ", " + s0 + ", " + s1 + " : " + xt + ", " +
         join(stateTys, ", "));
  e.line("}");
  return {e.rmsnorm(loop + "#0", "%norm_f", c.dModel, c.normEps), loop};
}

/// Writes a model's module: a header comment and the entries forward,
/// prefill and decode. Each entry has the backbone inline: a private
/// function returning its state buffers would make buffer deallocation
/// clone them on every call (a whole KV cache per token for the
/// Transformer).
struct ModuleAssembler {
  const ModelConfig &c;
  const std::vector<WeightArg> &weights, &states;
  LayerFn layer;
  const std::string V, Dm;
  std::string stTys; ///< the state types, comma-separated

  ModuleAssembler(const ModelConfig &c, const std::vector<WeightArg> &weights,
                  const std::vector<WeightArg> &states, LayerFn layer)
      : c(c), weights(weights), states(states), layer(layer),
        V(std::to_string(c.vocab)), Dm(std::to_string(c.dModel)) {
    std::vector<std::string> stateTys;
    for (const WeightArg &s : states)
      stateTys.push_back(tensorType(s.shape));
    stTys = join(stateTys, ", ");
  }

  std::string header() const {
    return "// " + c.describe() +
           "\n// Generated by ssmc::models::programText (ssmc-generate "
           "--emit-mlir).\n"
           "// Weights are stacked over layers; activations are channel-major "
           "[C, L].\n\n";
  }

  /// forward: logits at every position.
  std::string forward() const {
    Emitter e("?", c.precision);
    std::string c0 = e.constIndex(0);
    e.lenVal = e.fresh("len");
    e.line(e.lenVal + " = tensor.dim %tokens, " + c0 + " : tensor<?xi64>");
    std::vector<std::string> z = zeroStates(e);
    auto [hidden, loop] = emitBackbone(e, c, "%tokens", states, z, layer);
    std::string logits = lmHead(e, hidden);
    std::string outT = "tensor<?x" + V + "xf32>";
    std::string t = e.empty(outT), n = e.fresh("logits");
    e.line(n + " = linalg.transpose ins(" + logits + " : " + e.ty({V, "L"}) +
           ") outs(" + t + " : " + outT + ") permutation = [1, 0]");
    return "func.func @forward(%tokens: tensor<?xi64> {ssm.name = "
           "\"tokens\"},\n      " +
           argList(weights) + ")\n    -> " + outT + " {\n" + e.body +
           "    return " + n + " : " + outT + "\n}\n\n";
  }

  /// prefill: logits after the last token, and the states. With
  /// `extend`, the entry @extend: the tokens continue the sequence whose
  /// states are lent (the recurrent models take them as the scans' and
  /// convolutions' initial states; the Transformer takes the position of
  /// the first new token and attends over its cache), so a prompt split
  /// anywhere and run piece by piece gives the states of one prefill.
  /// With `promptSlice` (the Transformer's prefill across ranks) @prefill
  /// takes the position of its first token too (Emitter::promptSlice).
  std::string prefill(bool extend = false, bool promptSlice = false) const {
    Emitter e("?", c.precision);
    std::string c0 = e.constIndex(0), c1 = e.constIndex(1);
    e.lenVal = e.fresh("len");
    e.line(e.lenVal + " = tensor.dim %tokens, " + c0 + " : tensor<?xi64>");
    bool positioned = (extend || promptSlice) && c.arch == Arch::Transformer;
    e.promptSlice = promptSlice && !extend;
    if (positioned) {
      e.pos = e.fresh("pos");
      e.line(e.pos + " = arith.index_cast %position : i64 to index");
    }
    // The states are lent by the caller and overwritten in place: zeroed
    // for the recurrent models, used as they are for a KV cache (read only
    // where written) and by @extend.
    std::vector<std::string> z;
    for (const WeightArg &st : states) {
      std::string t = tensorType(st.shape);
      if (c.arch == Arch::Transformer || extend) {
        z.push_back("%" + st.name);
        continue;
      }
      std::string zero = e.constF32(0), n = e.fresh("z");
      e.line(n + " = linalg.fill ins(" + zero + " : f32) outs(%" + st.name +
             " : " + t + ") -> " + t);
      z.push_back(n);
    }
    auto [hidden, loop] = emitBackbone(e, c, "%tokens", states, z, layer);
    std::string r = loop;
    std::string last = e.fresh("last"), lastIdx = e.fresh("lastIdx");
    e.line(lastIdx + " = arith.subi " + e.lenVal + ", " + c1 + " : index");
    e.line(last + " = tensor.extract_slice " + hidden + "[0, " + lastIdx +
           "] [" + Dm + ", 1] [1, 1] : " + e.ty({Dm, "L"}) + " to tensor<" +
           Dm + "x1xf32>");
    Emitter one("1", c.precision);
    one.counter = e.counter;
    std::string logits = lmHead(one, last);
    e.body += one.body;
    e.counter = one.counter;
    std::string n = e.fresh("logits");
    e.line(n + " = tensor.collapse_shape " + logits + " [[0, 1]] : tensor<" +
           V + "x1xf32> into tensor<" + V + "xf32>");
    return std::string("func.func @") + (extend ? "extend" : "prefill") +
           "(%tokens: tensor<?xi64> {ssm.name = \"tokens\"}," +
           (positioned ? " %position: i64 {ssm.name = \"position\"}," : "") +
           "\n      " +
           argList(weights) + ",\n      " +
           argList(states, /*inPlace=*/true) + ")\n    -> (tensor<" + V +
           "xf32>, " + stTys +
           ") {\n" + e.body + "    return " + n + ", " + r + "#1, " + r +
           "#2 : tensor<" + V + "xf32>, " + stTys + "\n}\n\n";
  }

  /// decode: one token against the states, which it updates in place.
  std::string decode() const {
    Emitter e("1", c.precision);
    bool positioned = c.arch == Arch::Transformer;
    if (positioned) {
      e.pos = e.fresh("pos");
      e.line(e.pos + " = arith.index_cast %position : i64 to index");
    }
    std::vector<std::string> stIn;
    for (const WeightArg &s : states)
      stIn.push_back("%" + s.name);
    auto [hidden, loop] = emitBackbone(e, c, "%token", states, stIn, layer);
    std::string logits = lmHead(e, hidden);
    std::string n = e.fresh("logits");
    e.line(n + " = tensor.collapse_shape " + logits + " [[0, 1]] : tensor<" +
           V + "x1xf32> into tensor<" + V + "xf32>");
    return std::string("func.func @decode(%token: tensor<1xi64> {ssm.name = "
                       "\"token\"},") +
           (positioned ? " %position: i64 {ssm.name = \"position\"}," : "") +
           "\n      " + argList(weights) + ",\n      " +
           argList(states, /*inPlace=*/true) + ")\n    -> (tensor<" + V +
           "xf32>, " + stTys + ") {\n" + e.body + "    return " + n + ", " +
           loop + "#1, " + loop + "#2 : tensor<" + V + "xf32>, " + stTys +
           "\n}\n";
  }

  /// extend_batch (Mamba): S sequences packed along the tokens
  /// (cu_seqlens [S + 1]), each continuing from its row of the state pools
  /// [NL, S, ...] (zeroed by the caller for a new sequence), updated in
  /// place; the logits after each sequence's last token, [S, V]. A batch
  /// of S prompts is one call; a decode step of S sequences is the same
  /// call with one token each.
  ///
  /// The Transformer has two: prefill_batch (new sequences packed with
  /// cu_seqlens, `positions` [L] for RoPE; attention within each sequence,
  /// keys and values to slots [0, len) of its cache row) and decode_batch
  /// (one token per sequence at positions[s], ssm.attention_step with
  /// `positions`; no cu_seqlens).
  std::string extendBatch(int64_t batch, llvm::StringRef name = "extend_batch",
                          bool withPositions = false,
                          bool step = false) const {
    std::string B = std::to_string(batch);
    Emitter e(step ? B : "?", c.precision);
    e.S = B;
    std::string c0 = e.constIndex(0);
    if (!step) {
      e.lenVal = e.fresh("len");
      e.line(e.lenVal + " = tensor.dim %tokens, " + c0 + " : tensor<?xi64>");
    }
    e.nseq = e.constIndex(batch);
    if (withPositions)
      e.posTensor = "%positions";
    e.batchStep = step;
    std::vector<std::string> stIn, poolTys;
    for (const WeightArg &s : states) {
      stIn.push_back("%" + s.name);
      poolTys.push_back(poolTypeOf(s, B));
    }
    auto [hidden, loop] = emitBackbone(e, c, "%tokens", states, stIn, layer);
    // The hidden state after each sequence's last token: [Dm, S].
    Emitter per(B, c.precision);
    per.counter = e.counter;
    std::string last = hidden;
    if (!step) {
      std::string lastT = per.ty({Dm, "L"});
      std::string out = per.empty(lastT);
      last = per.fresh("last");
      per.line(last + " = linalg.generic {indexing_maps = [affine_map<(d, s) "
                      "-> (d, s)>], iterator_types = [\"parallel\", "
                      "\"parallel\"]} outs(" +
               out + " : " + lastT + ") {");
      per.line("^bb0(%o: f32):");
      per.line("  %d = linalg.index 0 : index");
      per.line("  %s = linalg.index 1 : index");
      per.line("  %one = arith.constant 1 : index");
      per.line("  %s1 = arith.addi %s, %one : index");
      per.line("  %end = tensor.extract %cu_seqlens[%s1] : " + e.cuT());
      per.line("  %endi = arith.index_cast %end : i64 to index");
      // An empty sequence (one with nothing left to run in a round of
      // Model::prefillSequences) reads column 0: its logits go unused.
      per.line("  %zero = arith.constant 0 : index");
      per.line("  %prev = arith.subi %endi, %one : index");
      per.line("  %at = arith.maxsi %prev, %zero : index");
      per.line("  %v = tensor.extract " + hidden + "[%d, %at] : " +
               e.ty({Dm, "L"}));
      per.line("  linalg.yield %v : f32");
      per.line("} -> " + lastT);
    }
    std::string logits = lmHead(per, last);
    std::string outT = "tensor<" + B + "x" + V + "xf32>";
    std::string t = per.empty(outT), n = per.fresh("logits");
    per.line(n + " = linalg.transpose ins(" + logits + " : " +
             per.ty({V, "L"}) + ") outs(" + t + " : " + outT +
             ") permutation = [1, 0]");
    e.body += per.body;
    std::vector<std::string> args;
    for (const WeightArg &s : states)
      args.push_back("%" + s.name + ": " + poolTypeOf(s, B) +
                     " {bufferization.writable = true, ssm.name = \"" +
                     s.name + "\"}");
    std::string poolList = join(poolTys, ", ");
    std::string tokT = step ? "tensor<" + B + "xi64>" : "tensor<?xi64>";
    return "func.func @" + name.str() + "(%tokens: " + tokT +
           " {ssm.name = \"tokens\"}," +
           (step ? "" : " %cu_seqlens: " + e.cuT() + " {ssm.name = "
                        "\"cu_seqlens\"},") +
           (withPositions ? " %positions: " + tokT + " {ssm.name = "
                            "\"positions\"}," : "") +
           "\n      " +
           argList(weights) + ",\n      " + join(args, ",\n      ") +
           ")\n    -> (" + outT + ", " + poolList + ") {\n" + e.body +
           "    return " + n + ", " + loop + "#1, " + loop + "#2 : " + outT +
           ", " + poolList + "\n}\n\n";
  }

private:
  /// Initial states for forward: zero for the recurrent models; a KV cache
  /// is only read where it was written, so it starts unfilled (zeroing 2048
  /// slots per prefill would cost more than a short prompt).
  std::vector<std::string> zeroStates(Emitter &e) const {
    std::vector<std::string> names;
    for (const WeightArg &s : states)
      names.push_back(c.arch == Arch::Transformer
                          ? e.empty(tensorType(s.shape))
                          : e.zeros(tensorType(s.shape)));
    return names;
  }

  std::string lmHead(Emitter &e, const std::string &h) const {
    return e.matmul("%lm_head", c.vocab, c.dModel, h);
  }
};

std::string moduleText(const ModelConfig &c,
                       const std::vector<WeightArg> &weights,
                       const std::vector<WeightArg> &states, LayerFn layer,
                       bool promptSlices) {
  ModuleAssembler m(c, weights, states, layer);
  return m.header() + m.forward() +
         m.prefill(/*extend=*/false, promptSlices) +
         m.prefill(/*extend=*/true) + m.decode();
}

std::string batchModuleText(const ModelConfig &c,
                            const std::vector<WeightArg> &weights,
                            const std::vector<WeightArg> &states,
                            LayerFn layer, int64_t batch) {
  ModuleAssembler m(c, weights, states, layer);
  std::string head = "// " + c.describe() +
                     "\n// Batched entries for " + std::to_string(batch) +
                     " sequences, generated by ssmc::models::"
                     "batchProgramText.\n\n";
  if (c.arch != Arch::Transformer)
    return head + m.extendBatch(batch);
  return head + m.extendBatch(batch, "prefill_batch", /*withPositions=*/true) +
         m.extendBatch(batch, "decode_batch", /*withPositions=*/true,
                       /*step=*/true);
}

} // namespace

namespace {
struct ArchProgram {
  std::vector<WeightArg> weights, states;
  LayerFn layer;
};
ArchProgram archProgramF32(const ModelConfig &c) {
  switch (c.arch) {
  case Arch::Mamba1:
    return {mamba1Weights(c), mamba1States(c), mamba1Layer};
  case Arch::Mamba2:
    return {mamba2Weights(c), mamba2States(c), mamba2Layer};
  case Arch::GatedDeltaNet:
    return {gatedDeltaNetWeights(c), gatedDeltaNetStates(c),
            gatedDeltaNetLayer};
  case Arch::Transformer:
    break;
  }
  return {transformerWeights(c), transformerStates(c), transformerLayer};
}
/// The projections at the configuration's precision, each i8 one followed
/// by its row scales.
ArchProgram archProgram(const ModelConfig &c) {
  ArchProgram p = archProgramF32(c);
  if (c.precision == WeightPrecision::F32)
    return p;
  std::vector<WeightArg> weights;
  for (WeightArg &w : p.weights) {
    if (!isProjection(w.name)) {
      weights.push_back(std::move(w));
      continue;
    }
    w.elt = projectionElt(c.precision);
    weights.push_back(w);
    if (c.precision == WeightPrecision::Int8)
      weights.push_back({w.name + "_scale",
                         std::vector<int64_t>(w.shape.begin(),
                                              w.shape.end() - 1)});
  }
  p.weights = std::move(weights);
  return p;
}
NamedShapes named(const std::vector<WeightArg> &args) {
  NamedShapes r;
  for (const WeightArg &w : args)
    r.emplace_back(w.name, w.shape);
  return r;
}
} // namespace

bool isProjection(llvm::StringRef name) {
  static const char *const kProjections[] = {
      "in_proj", "x_proj", "dt_proj_weight", "out_proj", "wq",  "wk",
      "wv",      "wo",     "w_gate",         "w_up",     "w_down", "lm_head"};
  return llvm::is_contained(kProjections, name);
}

DType programWeightType(const ModelConfig &c, llvm::StringRef name) {
  if (!isProjection(name))
    return DType::F32;
  switch (c.precision) {
  case WeightPrecision::BF16:
    return DType::BF16;
  case WeightPrecision::Int8:
    return DType::I8;
  case WeightPrecision::F32:
    break;
  }
  return DType::F32;
}

NamedShapes programWeights(const ModelConfig &c) {
  return named(archProgram(c).weights);
}

NamedShapes programStates(const ModelConfig &c) {
  return named(archProgram(c).states);
}

std::string programText(const ModelConfig &c, bool promptSlices) {
  ArchProgram p = archProgram(c);
  return moduleText(c, p.weights, p.states, p.layer,
                    promptSlices && c.arch == Arch::Transformer);
}

std::string batchProgramText(const ModelConfig &c, int64_t batch) {
  ArchProgram p = archProgram(c);
  return batchModuleText(c, p.weights, p.states, p.layer, batch);
}

} // namespace ssmc::models
