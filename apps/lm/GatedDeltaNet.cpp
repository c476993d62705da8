//===- GatedDeltaNet.cpp - Gated DeltaNet configuration and weights -------===//
//
// Configurations, checkpoint layout, configuration inference and weight
// fusion of fla's GatedDeltaNetForCausalLM. The program is emitted by
// GatedDeltaNetProgram.inc (part of Programs.cpp, whose emitter it uses).
//
//===----------------------------------------------------------------------===//

#include "apps/lm/GatedDeltaNet.h"

#include "ssmc/TensorIO.h"

#include "llvm/Support/FormatVariadic.h"

#include <cstring>

using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace ssmc::models {

namespace {
Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::string layerPrefix(int64_t i) {
  return "model.layers." + std::to_string(i) + ".";
}

int64_t keyDim(const ModelConfig &c) { return c.attnHeads * c.headDim; }
int64_t valueDim(const ModelConfig &c) { return c.vHeads * c.headVDim; }

/// The checkpoint tensors `parts` (name, rows; each [rows, cols] or
/// [rows, 1, cols], or [rows] when cols = 0) stacked row-wise into one f32
/// tensor [sum rows, cols] (or [sum rows]); a part the checkpoint lacks
/// (an absent conv bias) is zeros.
OwnedTensor concatRows(const WeightMap &w,
                       llvm::ArrayRef<std::pair<std::string, int64_t>> parts,
                       int64_t cols) {
  int64_t rows = 0;
  for (auto &[name, r] : parts)
    rows += r;
  std::vector<int64_t> shape{rows};
  if (cols > 0)
    shape.push_back(cols);
  OwnedTensor out(DType::F32, shape);
  float *dst = out.as<float>();
  int64_t per = cols > 0 ? cols : 1;
  for (auto &[name, r] : parts) {
    if (auto it = w.find(name); it != w.end()) {
      const OwnedTensor &src = it->second;
      if (src.dtype() == DType::F32)
        std::memcpy(dst, src.data(), r * per * sizeof(float));
      else
        for (int64_t i = 0; i < r * per; ++i)
          dst[i] = float(src.getAsDouble(i));
    }
    dst += r * per;
  }
  return out;
}
} // namespace

std::optional<ModelConfig> gatedDeltaNetConfigByName(StringRef name) {
  ModelConfig c;
  c.arch = Arch::GatedDeltaNet;
  c.normEps = 1e-6; // fla's default norm_eps
  c.dConv = 4;
  if (name == "gdn-130m") {
    c.vocab = 50280;
    c.dModel = 768;
    c.nLayer = 12;
    c.attnHeads = 4;
    c.headDim = 128;
    c.vHeads = 4;
    c.headVDim = 256; // expand_v 2
    c.ffnDim = 2048;  // hidden_ratio 4: 768 * 4 * 2/3, a multiple of 256
    return c;
  }
  if (name == "tiny-gdn") {
    c.vocab = 256;
    c.dModel = 64;
    c.nLayer = 2;
    c.attnHeads = 2;
    c.headDim = 16;
    c.vHeads = 2;
    c.headVDim = 32;
    c.ffnDim = 128;
    return c;
  }
  return std::nullopt;
}

std::string describeGatedDeltaNet(const ModelConfig &c) {
  std::string s =
      llvm::formatv("gated_deltanet: d_model {0}, n_layer {1}, vocab {2}, "
                    "heads {3} of K {4}, value heads {5} of V {6}, conv {7}, "
                    "mlp {8}",
                    c.dModel, c.nLayer, c.vocab, c.attnHeads, c.headDim,
                    c.vHeads, c.headVDim, c.dConv, c.ffnDim)
          .str();
  if (c.convBias)
    s += ", conv bias";
  if (c.allowNegEigval)
    s += ", allow_neg_eigval";
  if (!c.tiedEmbeddings)
    s += ", untied lm_head";
  return s;
}

std::vector<TensorSpec> gatedDeltaNetTensors(const ModelConfig &c) {
  std::vector<TensorSpec> t;
  int64_t D = c.dModel, KD = keyDim(c), VD = valueDim(c), Hv = c.vHeads,
          W = c.dConv, F = c.ffnDim;
  t.push_back({kGatedDeltaNetEmbedding, {c.vocab, D}});
  for (int64_t i = 0; i < c.nLayer; ++i) {
    std::string p = layerPrefix(i);
    t.push_back({p + "attn_norm.weight", {D}});
    t.push_back({p + "attn.q_proj.weight", {KD, D}});
    t.push_back({p + "attn.k_proj.weight", {KD, D}});
    t.push_back({p + "attn.v_proj.weight", {VD, D}});
    t.push_back({p + "attn.a_proj.weight", {Hv, D}});
    t.push_back({p + "attn.b_proj.weight", {Hv, D}});
    t.push_back({p + "attn.A_log", {Hv}});
    t.push_back({p + "attn.dt_bias", {Hv}});
    for (const char *x : {"q", "k", "v"}) {
      int64_t ch = x[0] == 'v' ? VD : KD;
      t.push_back({p + "attn." + x + "_conv1d.weight", {ch, 1, W}});
      if (c.convBias)
        t.push_back({p + "attn." + x + "_conv1d.bias", {ch}});
    }
    t.push_back({p + "attn.g_proj.weight", {VD, D}});
    t.push_back({p + "attn.o_norm.weight", {c.headVDim}});
    t.push_back({p + "attn.o_proj.weight", {D, VD}});
    t.push_back({p + "mlp_norm.weight", {D}});
    t.push_back({p + "mlp.gate_proj.weight", {F, D}});
    t.push_back({p + "mlp.up_proj.weight", {F, D}});
    t.push_back({p + "mlp.down_proj.weight", {D, F}});
  }
  t.push_back({"model.norm.weight", {D}});
  if (!c.tiedEmbeddings)
    t.push_back({"lm_head.weight", {c.vocab, D}});
  return t;
}

Expected<ModelConfig> inferGatedDeltaNet(const WeightMap &w,
                                         const ConfigHints &hints) {
  ModelConfig c;
  c.arch = Arch::GatedDeltaNet;
  c.normEps = 1e-6; // fla's default norm_eps
  const OwnedTensor &emb = w.at(kGatedDeltaNetEmbedding);
  if (emb.shape().size() != 2)
    return err(llvm::formatv("tensor '{0}' has shape {1}; expected [vocab, "
                             "hidden_size]",
                             kGatedDeltaNetEmbedding, formatShape(emb.shape()))
                   .str());
  c.vocab = emb.shape()[0];
  c.dModel = emb.shape()[1];
  while (w.count(layerPrefix(c.nLayer) + "attn_norm.weight") ||
         w.count(layerPrefix(c.nLayer) + "attn.q_proj.weight"))
    ++c.nLayer;
  if (c.nLayer == 0)
    return err("gated_deltanet checkpoint has no layers: expected tensors "
               "named 'model.layers.0.attn.q_proj.weight', ...");
  // What fla's GatedDeltaNet can be configured to and ssmc does not run.
  for (int64_t i = 0; i < c.nLayer; ++i)
    if (!w.count(layerPrefix(i) + "attn.b_proj.weight") &&
        w.count(layerPrefix(i) + "attn.o_proj.weight"))
      return err(llvm::formatv("gated_deltanet layer {0} has no "
                               "'attn.b_proj.weight': an attention layer of "
                               "a hybrid model (fla's `attn` config), which "
                               "is not supported",
                               i)
                     .str());
  std::string p0 = layerPrefix(0);
  if (!w.count(p0 + "attn.g_proj.weight"))
    return err("gated_deltanet checkpoint has no 'model.layers.0.attn.g_proj."
               "weight': models without the output gate (use_gate = false) "
               "are not supported");
  if (!w.count(p0 + "attn.q_conv1d.weight"))
    return err("gated_deltanet checkpoint has no 'model.layers.0.attn."
               "q_conv1d.weight': models without the short convolutions "
               "(use_short_conv = false) are not supported");
  auto dim = [&](const std::string &name, size_t rank,
                 size_t d) -> Expected<int64_t> {
    auto it = w.find(name);
    if (it == w.end())
      return err("checkpoint has no tensor '" + name + "'");
    if (it->second.shape().size() != rank)
      return err(llvm::formatv("tensor '{0}' has shape {1}; expected rank {2}",
                               name, formatShape(it->second.shape()), rank)
                     .str());
    return it->second.shape()[d];
  };
  auto kd = dim(p0 + "attn.q_proj.weight", 2, 0);
  if (!kd)
    return kd.takeError();
  auto vd = dim(p0 + "attn.v_proj.weight", 2, 0);
  if (!vd)
    return vd.takeError();
  auto hv = dim(p0 + "attn.A_log", 1, 0);
  if (!hv)
    return hv.takeError();
  auto headV = dim(p0 + "attn.o_norm.weight", 1, 0);
  if (!headV)
    return headV.takeError();
  auto conv = dim(p0 + "attn.q_conv1d.weight", 3, 2);
  if (!conv)
    return conv.takeError();
  auto ffn = dim(p0 + "mlp.gate_proj.weight", 2, 0);
  if (!ffn)
    return ffn.takeError();
  c.vHeads = *hv;
  c.headVDim = *headV;
  c.dConv = *conv;
  c.ffnDim = *ffn;
  if (c.vHeads <= 0 || c.headVDim <= 0 || c.vHeads * c.headVDim != *vd)
    return err(llvm::formatv("gated_deltanet: v_proj has {0} rows, not "
                             "{1} value heads (A_log) of {2} (o_norm)",
                             *vd, c.vHeads, c.headVDim)
                   .str());
  if (hints.numHeads > 0)
    c.attnHeads = hints.numHeads;
  else if (hints.headDim > 0 && *kd % hints.headDim == 0)
    c.attnHeads = *kd / hints.headDim;
  else
    c.attnHeads = c.vHeads; // fla: num_v_heads defaults to num_heads
  if (c.attnHeads <= 0 || *kd % c.attnHeads || c.vHeads % c.attnHeads)
    return err(llvm::formatv("gated_deltanet: q_proj has {0} rows for {1} "
                             "query/key heads (num_heads), which must divide "
                             "them and the {2} value heads; give num_heads "
                             "or head_dim in a config.json beside the "
                             "checkpoint",
                             *kd, c.attnHeads, c.vHeads)
                   .str());
  c.headDim = *kd / c.attnHeads;
  if (hints.headDim > 0 && hints.headDim != c.headDim)
    return err(llvm::formatv("gated_deltanet: head_dim is {0} but q_proj has "
                             "{1} heads of {2}",
                             hints.headDim, c.attnHeads, c.headDim)
                   .str());
  if (c.dConv < 2)
    return err(llvm::formatv("conv_size {0} is not supported (needs >= 2)",
                             c.dConv)
                   .str());
  c.convBias = w.count(p0 + "attn.q_conv1d.bias") > 0;
  c.tiedEmbeddings = !w.count("lm_head.weight");
  c.allowNegEigval = hints.allowNegEigval;
  if (hints.normEps > 0)
    c.normEps = hints.normEps;
  if (Error e = checkWeights(c, w))
    return std::move(e);
  return c;
}

void gatedDeltaNetConfigJson(llvm::json::Object &o, const ModelConfig &c) {
  o["num_heads"] = c.attnHeads;
  o["num_v_heads"] = c.vHeads;
  o["head_dim"] = c.headDim;
  o["expand_v"] = double(c.headVDim) / double(c.headDim);
  o["conv_size"] = c.dConv;
  o["intermediate_size"] = c.ffnDim;
  o["norm_eps"] = c.normEps;
  o["allow_neg_eigval"] = c.allowNegEigval;
  o["use_gate"] = true;
  o["use_short_conv"] = true;
}

void readGatedDeltaNetHints(const llvm::json::Object &o, ConfigHints &h) {
  if (auto v = o.getInteger("num_heads"))
    h.numHeads = *v;
  if (auto v = o.getBoolean("allow_neg_eigval"))
    h.allowNegEigval = *v;
  if (auto v = o.getNumber("norm_eps"))
    h.normEps = *v;
}

void fuseGatedDeltaNetWeights(const ModelConfig &c, WeightMap &w) {
  int64_t D = c.dModel, KD = keyDim(c), VD = valueDim(c), Hv = c.vHeads,
          F = c.ffnDim;
  for (int64_t i = 0; i < c.nLayer; ++i) {
    std::string p = layerPrefix(i), a = p + "attn.";
    std::vector<std::pair<std::string, int64_t>> proj{
        {a + "q_proj.weight", KD}, {a + "k_proj.weight", KD},
        {a + "v_proj.weight", VD}, {a + "g_proj.weight", VD},
        {a + "a_proj.weight", Hv}, {a + "b_proj.weight", Hv}};
    std::vector<std::pair<std::string, int64_t>> conv{
        {a + "q_conv1d.weight", KD},
        {a + "k_conv1d.weight", KD},
        {a + "v_conv1d.weight", VD}};
    std::vector<std::pair<std::string, int64_t>> bias{
        {a + "q_conv1d.bias", KD},
        {a + "k_conv1d.bias", KD},
        {a + "v_conv1d.bias", VD}};
    std::vector<std::pair<std::string, int64_t>> mlp{
        {p + "mlp.gate_proj.weight", F}, {p + "mlp.up_proj.weight", F}};
    w.insert_or_assign(a + "qkvgab_proj.weight", concatRows(w, proj, D));
    w.insert_or_assign(a + "qkv_conv1d.weight", concatRows(w, conv, c.dConv));
    w.insert_or_assign(a + "qkv_conv1d.bias", concatRows(w, bias, 0));
    w.insert_or_assign(p + "mlp.gate_up_proj.weight", concatRows(w, mlp, D));
    for (auto *parts : {&proj, &conv, &bias, &mlp})
      for (auto &[name, rows] : *parts)
        w.erase(name);
  }
}

std::string gatedDeltaNetCheckpointName(const ModelConfig &c,
                                        const std::string &name,
                                        int64_t layer) {
  if (name == "embedding" || (name == "lm_head" && c.tiedEmbeddings))
    return kGatedDeltaNetEmbedding;
  if (name == "lm_head")
    return "lm_head.weight";
  if (name == "norm_f")
    return "model.norm.weight";
  static const std::pair<const char *, const char *> kLeaves[] = {
      {"attn_norm", "attn_norm.weight"},
      {"in_proj", "attn.qkvgab_proj.weight"},
      {"conv_weight", "attn.qkv_conv1d.weight"},
      {"conv_bias", "attn.qkv_conv1d.bias"},
      {"A_log", "attn.A_log"},
      {"dt_bias", "attn.dt_bias"},
      {"o_norm", "attn.o_norm.weight"},
      {"o_proj", "attn.o_proj.weight"},
      {"mlp_norm", "mlp_norm.weight"},
      {"w_gate_up", "mlp.gate_up_proj.weight"},
      {"w_down", "mlp.down_proj.weight"}};
  for (auto [prog, leaf] : kLeaves)
    if (name == prog)
      return layerPrefix(layer) + leaf;
  return name;
}

} // namespace ssmc::models
