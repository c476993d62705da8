//===- Config.cpp - checkpoint layouts, configuration inference, init -----===//

#include "apps/lm/LanguageModel.h"
#include "apps/lm/GatedDeltaNet.h"
#include "ssmc/TensorIO.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <set>

using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace ssmc::models {

namespace {
Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::string layerName(int64_t i, StringRef leaf) {
  return ("backbone.layers." + llvm::Twine(i) + "." + leaf).str();
}

const char *const kEmbeddingNames[] = {"backbone.embedding.weight",
                                       "backbone.embeddings.weight"};

/// Looks up the embedding under either name.
const OwnedTensor *findEmbedding(const WeightMap &w, std::string *name) {
  for (const char *n : kEmbeddingNames)
    if (auto it = w.find(n); it != w.end()) {
      if (name)
        *name = n;
      return &it->second;
    }
  return nullptr;
}

Expected<const OwnedTensor *> need(const WeightMap &w, const std::string &name,
                                   size_t rank) {
  auto it = w.find(name);
  if (it == w.end())
    return err("checkpoint has no tensor '" + name + "'");
  if (it->second.shape().size() != rank)
    return err(llvm::formatv("tensor '{0}' has shape {1}; expected rank {2}",
                             name, formatShape(it->second.shape()), rank)
                   .str());
  return &it->second;
}

// splitmix64: a small, fast, well-mixed generator for reproducible weights.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * 0x1.0p-53; }
  double normal() {
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1 + 1e-300)) * std::cos(2 * M_PI * u2);
  }
};
} // namespace

StringRef archName(Arch a) {
  switch (a) {
  case Arch::Mamba1:
    return "mamba1";
  case Arch::Mamba2:
    return "mamba2";
  case Arch::Transformer:
    return "transformer";
  case Arch::GatedDeltaNet:
    return "gated_deltanet";
  }
  return "?";
}

std::string ModelConfig::describe() const {
  if (arch == Arch::GatedDeltaNet)
    return describeGatedDeltaNet(*this);
  if (arch == Arch::Transformer) {
    std::string s =
        llvm::formatv("transformer: d_model {0}, n_layer {1}, vocab {2}, "
                      "heads {3} (kv {4}) of {5}, ffn {6}, context {7}",
                      dModel, nLayer, vocab, attnHeads, kvHeads, headDim,
                      ffnDim, context)
            .str();
    if (!tiedEmbeddings)
      s += ", untied lm_head";
    return s;
  }
  std::string s = llvm::formatv("{0}: d_model {1}, n_layer {2}, vocab {3}, "
                                "d_inner {4}, d_state {5}, d_conv {6}",
                                archName(arch), dModel, nLayer, vocab, dInner,
                                dState, dConv)
                      .str();
  if (arch == Arch::Mamba1)
    s += llvm::formatv(", dt_rank {0}", dtRank).str();
  else
    s += llvm::formatv(", headdim {0}, nheads {1}, ngroups {2}", headDim,
                       nHeads(), nGroups)
             .str();
  if (!tiedEmbeddings)
    s += ", untied lm_head";
  return s;
}

ModelConfig mamba130m() {
  ModelConfig c;
  c.arch = Arch::Mamba1;
  c.vocab = 50280;
  c.dModel = 768;
  c.nLayer = 24;
  c.dInner = 1536;
  c.dState = 16;
  c.dConv = 4;
  c.dtRank = 48; // ceil(768 / 16)
  return c;
}

ModelConfig mamba2_130m() {
  ModelConfig c;
  c.arch = Arch::Mamba2;
  c.vocab = 50288;
  c.dModel = 768;
  c.nLayer = 24;
  c.dInner = 1536;
  c.dState = 128;
  c.dConv = 4;
  c.headDim = 64;
  c.nGroups = 1;
  return c;
}

ModelConfig transformer130m() {
  ModelConfig c;
  c.arch = Arch::Transformer;
  c.vocab = 50280;
  c.dModel = 768;
  c.nLayer = 12;
  c.attnHeads = 12;
  c.kvHeads = 12;
  c.headDim = 64;
  c.ffnDim = 2048;
  c.context = 2048;
  return c;
}

std::optional<ModelConfig> configByName(llvm::StringRef name) {
  if (auto gdn = gatedDeltaNetConfigByName(name))
    return gdn;
  if (name == "mamba-130m")
    return mamba130m();
  if (name == "mamba2-130m")
    return mamba2_130m();
  if (name == "tiny") {
    ModelConfig c;
    c.vocab = 256;
    c.dModel = 64;
    c.nLayer = 2;
    c.dInner = 128;
    c.dState = 16;
    c.dConv = 4;
    c.dtRank = 4;
    return c;
  }
  if (name == "transformer-130m")
    return transformer130m();
  if (name == "tiny-transformer") {
    ModelConfig c;
    c.arch = Arch::Transformer;
    c.vocab = 256;
    c.dModel = 64;
    c.nLayer = 2;
    c.attnHeads = 4;
    c.kvHeads = 2;
    c.headDim = 16;
    c.ffnDim = 128;
    c.context = 512;
    return c;
  }
  if (name == "tiny2") {
    ModelConfig c;
    c.arch = Arch::Mamba2;
    c.vocab = 256;
    c.dModel = 64;
    c.nLayer = 2;
    c.dInner = 128;
    c.dState = 16;
    c.dConv = 4;
    c.headDim = 32;
    c.nGroups = 1;
    return c;
  }
  return std::nullopt;
}


namespace {
/// The Llama layout of HuggingFace transformers.
std::vector<TensorSpec> transformerTensors(const ModelConfig &c) {
  std::vector<TensorSpec> t;
  t.push_back({"model.embed_tokens.weight", {c.vocab, c.dModel}});
  int64_t q = c.attnHeads * c.headDim, kv = c.kvHeads * c.headDim;
  for (int64_t i = 0; i < c.nLayer; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    t.push_back({p + "input_layernorm.weight", {c.dModel}});
    t.push_back({p + "self_attn.q_proj.weight", {q, c.dModel}});
    t.push_back({p + "self_attn.k_proj.weight", {kv, c.dModel}});
    t.push_back({p + "self_attn.v_proj.weight", {kv, c.dModel}});
    t.push_back({p + "self_attn.o_proj.weight", {c.dModel, q}});
    t.push_back({p + "post_attention_layernorm.weight", {c.dModel}});
    t.push_back({p + "mlp.gate_proj.weight", {c.ffnDim, c.dModel}});
    t.push_back({p + "mlp.up_proj.weight", {c.ffnDim, c.dModel}});
    t.push_back({p + "mlp.down_proj.weight", {c.dModel, c.ffnDim}});
  }
  t.push_back({"model.norm.weight", {c.dModel}});
  if (!c.tiedEmbeddings)
    t.push_back({"lm_head.weight", {c.vocab, c.dModel}});
  return t;
}

Expected<ModelConfig> inferTransformer(const WeightMap &w,
                                       const ConfigHints &hints) {
  ModelConfig c;
  c.arch = Arch::Transformer;
  const OwnedTensor &emb = w.at("model.embed_tokens.weight");
  if (emb.shape().size() != 2)
    return err("tensor 'model.embed_tokens.weight' has shape " +
               formatShape(emb.shape()) + "; expected [vocab, d_model]");
  c.vocab = emb.shape()[0];
  c.dModel = emb.shape()[1];
  while (w.count("model.layers." + std::to_string(c.nLayer) +
                 ".self_attn.q_proj.weight"))
    ++c.nLayer;
  if (c.nLayer == 0)
    return err("checkpoint has no layers: expected tensors named "
               "'model.layers.0.self_attn.q_proj.weight', ...");
  auto q = need(w, "model.layers.0.self_attn.q_proj.weight", 2);
  if (!q)
    return q.takeError();
  auto k = need(w, "model.layers.0.self_attn.k_proj.weight", 2);
  if (!k)
    return k.takeError();
  auto gate = need(w, "model.layers.0.mlp.gate_proj.weight", 2);
  if (!gate)
    return gate.takeError();
  int64_t qRows = (*q)->shape()[0], kvRows = (*k)->shape()[0];
  c.ffnDim = (*gate)->shape()[0];
  if (hints.headDim > 0 && hints.attnHeads <= 0) {
    if (qRows % hints.headDim)
      return err(llvm::formatv("q_proj has {0} rows, not a multiple of "
                               "head_dim {1}",
                               qRows, hints.headDim)
                     .str());
    c.headDim = hints.headDim;
    c.attnHeads = qRows / c.headDim;
  } else if (hints.attnHeads > 0) {
    c.attnHeads = hints.attnHeads;
    if (qRows % c.attnHeads)
      return err(llvm::formatv("q_proj has {0} rows, not a multiple of "
                               "num_attention_heads {1}",
                               qRows, c.attnHeads)
                     .str());
    c.headDim = qRows / c.attnHeads;
  } else {
    if (qRows % 64)
      return err(llvm::formatv("q_proj has {0} rows: the head count cannot "
                               "be guessed; give num_attention_heads in a "
                               "config.json beside the checkpoint",
                               qRows)
                     .str());
    c.headDim = 64;
    c.attnHeads = qRows / 64;
  }
  if (kvRows % c.headDim)
    return err(llvm::formatv("k_proj has {0} rows, not a multiple of the "
                             "head size {1}",
                             kvRows, c.headDim)
                   .str());
  c.kvHeads = kvRows / c.headDim;
  if (hints.kvHeads > 0 && hints.kvHeads != c.kvHeads)
    return err(llvm::formatv("num_key_value_heads is {0} but k_proj has {1} "
                             "heads of {2}",
                             hints.kvHeads, c.kvHeads, c.headDim)
                   .str());
  if (c.kvHeads == 0 || c.attnHeads % c.kvHeads)
    return err(llvm::formatv("{0} KV heads do not divide {1} query heads",
                             c.kvHeads, c.attnHeads)
                   .str());
  if (c.headDim % 2)
    return err(llvm::formatv("head size {0} is odd: RoPE rotates pairs",
                             c.headDim)
                   .str());
  c.ropeTheta = hints.ropeTheta > 0 ? hints.ropeTheta : 10000.0;
  c.context = hints.context > 0 ? hints.context : 2048;
  c.tiedEmbeddings = !w.count("lm_head.weight");
  if (hints.normEps > 0)
    c.normEps = hints.normEps;
  if (Error e = checkWeights(c, w))
    return std::move(e);
  return c;
}
} // namespace

std::string configPathFor(StringRef checkpoint) {
  llvm::SmallString<256> own(checkpoint);
  llvm::sys::path::replace_extension(own, "config.json");
  if (llvm::sys::fs::exists(own))
    return std::string(own);
  llvm::SmallString<256> dir(llvm::sys::path::parent_path(checkpoint));
  llvm::sys::path::append(dir, "config.json");
  return std::string(dir);
}

Error writeConfigJson(StringRef path, const ModelConfig &c) {
  llvm::json::Object o;
  o["model_type"] = archName(c.arch);
  o["vocab_size"] = c.vocab;
  o["hidden_size"] = c.dModel;
  o["num_hidden_layers"] = c.nLayer;
  if (c.arch == Arch::GatedDeltaNet) {
    gatedDeltaNetConfigJson(o, c);
  } else if (c.arch == Arch::Transformer) {
    o["num_attention_heads"] = c.attnHeads;
    o["num_key_value_heads"] = c.kvHeads;
    o["head_dim"] = c.headDim;
    o["intermediate_size"] = c.ffnDim;
    o["rope_theta"] = c.ropeTheta;
    o["max_position_embeddings"] = c.context;
    o["rms_norm_eps"] = c.normEps;
  } else {
    o["state_size"] = c.dState;
    o["conv_kernel"] = c.dConv;
    o["layer_norm_epsilon"] = c.normEps;
    if (c.arch == Arch::Mamba2) {
      o["n_groups"] = c.nGroups;
      o["head_dim"] = c.headDim;
    }
  }
  o["tie_word_embeddings"] = c.tiedEmbeddings;
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return err(path + ": cannot write: " + ec.message());
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(o))) << "\n";
  return Error::success();
}

Expected<ConfigHints> readConfigHints(StringRef path) {
  ConfigHints h;
  auto buf = llvm::MemoryBuffer::getFile(path);
  if (!buf)
    return h;
  auto json = llvm::json::parse((*buf)->getBuffer());
  if (!json)
    return err(path + ": " + llvm::toString(json.takeError()));
  const llvm::json::Object *o = json->getAsObject();
  if (!o)
    return err(path + ": expected a JSON object");
  for (const char *key : {"n_groups", "ngroups"})
    if (auto v = o->getInteger(key))
      h.nGroups = *v;
  for (const char *key : {"layer_norm_epsilon", "norm_epsilon", "rms_norm_eps"})
    if (auto v = o->getNumber(key))
      h.normEps = *v;
  if (auto v = o->getInteger("num_attention_heads"))
    h.attnHeads = *v;
  if (auto v = o->getInteger("num_key_value_heads"))
    h.kvHeads = *v;
  if (auto v = o->getInteger("head_dim"))
    h.headDim = *v;
  if (auto v = o->getNumber("rope_theta"))
    h.ropeTheta = *v;
  if (auto v = o->getInteger("max_position_embeddings"))
    h.context = *v;
  readGatedDeltaNetHints(*o, h);
  return h;
}

std::vector<TensorSpec> checkpointTensors(const ModelConfig &c) {
  if (c.arch == Arch::Transformer)
    return transformerTensors(c);
  if (c.arch == Arch::GatedDeltaNet)
    return gatedDeltaNetTensors(c);
  std::vector<TensorSpec> t;
  t.push_back({kEmbeddingNames[0], {c.vocab, c.dModel}});
  for (int64_t i = 0; i < c.nLayer; ++i) {
    auto add = [&](StringRef leaf, std::vector<int64_t> shape) {
      t.push_back({layerName(i, leaf), std::move(shape)});
    };
    add("norm.weight", {c.dModel});
    if (c.arch == Arch::Mamba1) {
      add("mixer.in_proj.weight", {2 * c.dInner, c.dModel});
      add("mixer.conv1d.weight", {c.dInner, 1, c.dConv});
      add("mixer.conv1d.bias", {c.dInner});
      add("mixer.x_proj.weight", {c.dtRank + 2 * c.dState, c.dInner});
      add("mixer.dt_proj.weight", {c.dInner, c.dtRank});
      add("mixer.dt_proj.bias", {c.dInner});
      add("mixer.A_log", {c.dInner, c.dState});
      add("mixer.D", {c.dInner});
      add("mixer.out_proj.weight", {c.dModel, c.dInner});
    } else {
      int64_t H = c.nHeads(), GN = c.nGroups * c.dState;
      add("mixer.in_proj.weight", {2 * c.dInner + 2 * GN + H, c.dModel});
      add("mixer.conv1d.weight", {c.dInner + 2 * GN, 1, c.dConv});
      add("mixer.conv1d.bias", {c.dInner + 2 * GN});
      add("mixer.dt_bias", {H});
      add("mixer.A_log", {H});
      add("mixer.D", {H});
      add("mixer.norm.weight", {c.dInner});
      add("mixer.out_proj.weight", {c.dModel, c.dInner});
    }
  }
  t.push_back({"backbone.norm_f.weight", {c.dModel}});
  if (!c.tiedEmbeddings)
    t.push_back({"lm_head.weight", {c.vocab, c.dModel}});
  return t;
}

Expected<ModelConfig> inferConfig(const WeightMap &w,
                                  const ConfigHints &hints) {
  if (w.count("model.embed_tokens.weight"))
    return inferTransformer(w, hints);
  if (w.count(kGatedDeltaNetEmbedding))
    return inferGatedDeltaNet(w, hints);
  ModelConfig c;
  if (hints.normEps > 0)
    c.normEps = hints.normEps;
  int64_t nGroups = hints.nGroups;
  std::string embName;
  const OwnedTensor *emb = findEmbedding(w, &embName);
  if (!emb)
    return err("checkpoint has no embedding: expected a tensor named "
               "'backbone.embedding.weight' or 'backbone.embeddings.weight' "
               "(Mamba), 'model.embed_tokens.weight' (Transformer) or "
               "'model.embeddings.weight' (Gated DeltaNet)");
  if (emb->shape().size() != 2)
    return err("tensor '" + embName + "' has shape " +
               formatShape(emb->shape()) + "; expected [vocab, d_model]");
  c.vocab = emb->shape()[0];
  c.dModel = emb->shape()[1];
  while (w.count(layerName(c.nLayer, "norm.weight")) ||
         w.count(layerName(c.nLayer, "mixer.in_proj.weight")))
    ++c.nLayer;
  if (c.nLayer == 0)
    return err("checkpoint has no layers: expected tensors named "
               "'backbone.layers.0.mixer.in_proj.weight', ...");

  bool mamba2 = w.count(layerName(0, "mixer.dt_bias")) > 0;
  c.arch = mamba2 ? Arch::Mamba2 : Arch::Mamba1;
  auto conv = need(w, layerName(0, "mixer.conv1d.weight"), 3);
  if (!conv)
    return conv.takeError();
  c.dConv = (*conv)->shape()[2];
  auto outProj = need(w, layerName(0, "mixer.out_proj.weight"), 2);
  if (!outProj)
    return outProj.takeError();
  c.dInner = (*outProj)->shape()[1];
  if (!mamba2) {
    auto aLog = need(w, layerName(0, "mixer.A_log"), 2);
    if (!aLog)
      return aLog.takeError();
    c.dState = (*aLog)->shape()[1];
    auto dtProj = need(w, layerName(0, "mixer.dt_proj.weight"), 2);
    if (!dtProj)
      return dtProj.takeError();
    c.dtRank = (*dtProj)->shape()[1];
  } else {
    auto aLog = need(w, layerName(0, "mixer.A_log"), 1);
    if (!aLog)
      return aLog.takeError();
    int64_t H = (*aLog)->shape()[0];
    if (H <= 0 || c.dInner % H)
      return err(llvm::formatv("mamba2 checkpoint: {0} heads do not divide "
                               "d_inner {1}",
                               H, c.dInner)
                     .str());
    c.headDim = c.dInner / H;
    // The checkpoint shows ngroups * d_state only; the released models
    // use one group.
    c.nGroups = nGroups > 0 ? nGroups : 1;
    int64_t convDim = (*conv)->shape()[0];
    int64_t groupStates = (convDim - c.dInner) / 2;
    if (groupStates <= 0 || groupStates % c.nGroups || H % c.nGroups)
      return err(llvm::formatv("mamba2 checkpoint: conv1d has {0} channels "
                               "for d_inner {1}: {2} groups of B and C do "
                               "not fit, nor divide the {3} heads",
                               convDim, c.dInner, c.nGroups, H)
                     .str());
    c.dState = groupStates / c.nGroups;
  }
  c.tiedEmbeddings = !w.count("lm_head.weight");
  if (c.dConv < 2)
    return err(llvm::formatv("d_conv {0} is not supported (needs >= 2)",
                             c.dConv)
                   .str());
  if (Error e = checkWeights(c, w))
    return std::move(e);
  return c;
}

Error checkWeights(const ModelConfig &c, const WeightMap &w) {
  std::vector<std::string> problems;
  for (const TensorSpec &spec : checkpointTensors(c)) {
    const OwnedTensor *t = nullptr;
    std::string name = spec.name;
    if (name == kEmbeddingNames[0])
      t = findEmbedding(w, &name);
    else if (auto it = w.find(name); it != w.end())
      t = &it->second;
    if (!t) {
      problems.push_back("missing tensor '" + spec.name + "' (expected " +
                         formatShape(spec.shape) + ")");
      continue;
    }
    if (t->shape() != spec.shape)
      problems.push_back("tensor '" + name + "' has shape " +
                         formatShape(t->shape()) + "; expected " +
                         formatShape(spec.shape));
    else if (t->dtype() != DType::F32 && t->dtype() != DType::F16 &&
             t->dtype() != DType::BF16 && t->dtype() != DType::F64)
      problems.push_back("tensor '" + name + "' has dtype " +
                         dtypeName(t->dtype()).str() +
                         "; expected a float type");
  }
  if (problems.empty())
    return Error::success();
  std::string msg = "checkpoint does not match " + c.describe() + ":";
  size_t shown = std::min<size_t>(problems.size(), 8);
  for (size_t i = 0; i < shown; ++i)
    msg += "\n  " + problems[i];
  if (problems.size() > shown)
    msg += llvm::formatv("\n  ... and {0} more", problems.size() - shown).str();
  return err(msg);
}

WeightMap randomWeights(const ModelConfig &c, uint64_t seed) {
  WeightMap w;
  Rng rng{seed * 0x2545F4914F6CDD1DULL + 1};
  auto dtInit = [&]() {
    double dt = std::exp(std::log(1e-3) +
                         rng.uniform() * (std::log(0.1) - std::log(1e-3)));
    dt = std::max(dt, 1e-4);
    return dt + std::log(-std::expm1(-dt)); // inverse softplus
  };
  for (const TensorSpec &spec : checkpointTensors(c)) {
    OwnedTensor t(DType::F32, spec.shape);
    float *p = t.as<float>();
    int64_t n = t.numel();
    StringRef name = spec.name;
    auto uniformFan = [&](int64_t fanIn, double gain = 1.0) {
      double bound = gain / std::sqrt(double(fanIn));
      for (int64_t i = 0; i < n; ++i)
        p[i] = float((2 * rng.uniform() - 1) * bound);
    };
    if (name.ends_with("embedding.weight") || name == "lm_head.weight") {
      for (int64_t i = 0; i < n; ++i)
        p[i] = float(0.02 * rng.normal());
    } else if (name.ends_with("embed_tokens.weight") ||
               name == kGatedDeltaNetEmbedding) {
      for (int64_t i = 0; i < n; ++i)
        p[i] = float(0.02 * rng.normal());
    } else if (name.ends_with("norm.weight") || name.ends_with("norm_f.weight") ||
               name.ends_with("layernorm.weight") || name.ends_with("mixer.D")) {
      for (int64_t i = 0; i < n; ++i)
        p[i] = 1.0f;
    } else if (name.ends_with("A_log")) {
      if (c.arch == Arch::Mamba1) {
        for (int64_t d = 0; d < c.dInner; ++d)
          for (int64_t s = 0; s < c.dState; ++s)
            p[d * c.dState + s] = float(std::log(double(s + 1)));
      } else {
        for (int64_t i = 0; i < n; ++i)
          p[i] = float(std::log(1 + 15 * rng.uniform()));
      }
    } else if (name.ends_with("dt_proj.bias") || name.ends_with("dt_bias")) {
      for (int64_t i = 0; i < n; ++i)
        p[i] = float(dtInit());
    } else if (name.ends_with("dt_proj.weight")) {
      uniformFan(c.dtRank);
    } else if (name.ends_with("conv1d.weight")) {
      uniformFan(c.dConv);
    } else if (name.ends_with("conv1d.bias")) {
      uniformFan(c.dConv);
    } else if (name.ends_with("out_proj.weight") ||
               name.ends_with("o_proj.weight") ||
               name.ends_with("down_proj.weight")) {
      // mamba_ssm rescales the residual branch's output projection.
      uniformFan(spec.shape.back(), 1.0 / std::sqrt(double(c.nLayer)));
    } else {
      uniformFan(spec.shape.back());
    }
    w.emplace(spec.name, std::move(t));
  }
  return w;
}

Error writeWeights(StringRef path, const WeightMap &weights) {
  std::vector<std::pair<std::string, Tensor>> views;
  for (auto &[name, t] : weights)
    views.emplace_back(name, const_cast<OwnedTensor &>(t).view());
  return writeSafetensors(path, views);
}

} // namespace ssmc::models
