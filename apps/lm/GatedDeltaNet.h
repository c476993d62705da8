//===- GatedDeltaNet.h - the Gated DeltaNet language model ------*- C++ -*-===//
//
// flash-linear-attention's GatedDeltaNetForCausalLM (fla/models/
// gated_deltanet, layer fla/layers/gated_deltanet.py) with its tensor names:
//
//   model.embeddings.weight                       [V, D]
//   model.layers.N.attn_norm.weight               [D]
//   model.layers.N.attn.{q,k}_proj.weight         [Hk*K, D]
//   model.layers.N.attn.{v,g}_proj.weight         [Hv*Vd, D]
//   model.layers.N.attn.{a,b}_proj.weight         [Hv, D]
//   model.layers.N.attn.A_log, .dt_bias           [Hv]
//   model.layers.N.attn.{q,k,v}_conv1d.weight     [Hk*K | Hv*Vd, 1, W]
//   model.layers.N.attn.{q,k,v}_conv1d.bias       (only with conv_bias)
//   model.layers.N.attn.o_norm.weight             [Vd]
//   model.layers.N.attn.o_proj.weight             [D, Hv*Vd]
//   model.layers.N.mlp_norm.weight                [D]
//   model.layers.N.mlp.{gate,up}_proj.weight      [F, D]
//   model.layers.N.mlp.down_proj.weight           [D, F]
//   model.norm.weight                             [D]
//   lm_head.weight                                [V, D] (absent: tied)
//
// The entries of LanguageModel.h dispatch here on Arch::GatedDeltaNet.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_APPS_LM_GATEDDELTANET_H
#define SSMC_APPS_LM_GATEDDELTANET_H

#include "apps/lm/LanguageModel.h"

#include "llvm/Support/JSON.h"

namespace ssmc::models {

/// The tensor that tells a Gated DeltaNet checkpoint apart.
inline constexpr const char *kGatedDeltaNetEmbedding = "model.embeddings.weight";

/// gdn-130m (d_model 768, 12 layers, 4 heads of K = 128, Vd = 256, MLP 2048,
/// vocab 50280) and tiny-gdn (d_model 64, 2 layers, vocab 256).
std::optional<ModelConfig> gatedDeltaNetConfigByName(llvm::StringRef name);
std::string describeGatedDeltaNet(const ModelConfig &config);
/// Every checkpoint tensor, in fla's module order.
std::vector<TensorSpec> gatedDeltaNetTensors(const ModelConfig &config);
/// Sizes from the tensor shapes; K from `head_dim` or `num_heads` of the
/// config.json (default: as many key heads as value heads).
llvm::Expected<ModelConfig> inferGatedDeltaNet(const WeightMap &weights,
                                               const ConfigHints &hints);
/// fla's config.json keys (model_type gated_deltanet).
void gatedDeltaNetConfigJson(llvm::json::Object &o, const ModelConfig &config);
/// Reads the fla keys the shapes cannot show into `hints`.
void readGatedDeltaNetHints(const llvm::json::Object &o, ConfigHints &hints);

/// Adds the per-layer concatenations the program reads (the six input
/// projections as one, the three short convolutions as one, gate and up as
/// one) to `weights`, as f32, and drops their parts.
void fuseGatedDeltaNetWeights(const ModelConfig &config, WeightMap &weights);
/// The tensor of `weights` (after fuseGatedDeltaNetWeights) that fills
/// program weight `name` at layer `layer`.
std::string gatedDeltaNetCheckpointName(const ModelConfig &config,
                                        const std::string &name,
                                        int64_t layer);

} // namespace ssmc::models

#endif // SSMC_APPS_LM_GATEDDELTANET_H
