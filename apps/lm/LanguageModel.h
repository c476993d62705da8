//===- LanguageModel.h - language models compiled by ssmc -------*- C++ -*-===//
//
// Whole language models as ssm programs: the configuration is read off the
// tensor shapes of a .safetensors checkpoint with the names of the public
// mamba_ssm / HuggingFace checkpoints, the program (examples/lm/) is
// generated for that configuration, compiled once by ssmc::Jit, and driven
// as prefill (sequence ops over the prompt) followed by decode (one token
// at a time against a constant-size state).
//
//   auto model = ssmc::models::Model::load("mamba-130m.safetensors");
//   auto out = (*model)->generate(prompt, /*newTokens=*/32, sampling);
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_APPS_LM_LANGUAGEMODEL_H
#define SSMC_APPS_LM_LANGUAGEMODEL_H

#include "ssmc/Jit.h"
#include "ssmc/Tensor.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ssmc::models {

using WeightMap = std::map<std::string, OwnedTensor>;

enum class Arch {
  Mamba1,      ///< selective_scan mixer (mamba_ssm `Mamba`)
  Mamba2,      ///< ssd mixer with gated RMSNorm (mamba_ssm `Mamba2`)
  Transformer, ///< Llama-style: RoPE attention with a KV cache, SwiGLU MLP
  GatedDeltaNet, ///< fla's GatedDeltaNet: gated delta rule, SwiGLU MLP
};
llvm::StringRef archName(Arch a);

/// How the projection weights (every matmul: Mamba's in/x/dt/out
/// projections, the Transformer's q/k/v/o and MLP, the LM head) are stored
/// and read; everything else (embedding, norms, convolution, scan
/// parameters) stays f32, and so do activations and accumulation.
enum class WeightPrecision {
  F32,
  BF16, ///< bfloat16, rounded to nearest even
  Int8, ///< int8 with one f32 scale per output row (max |w| / 127)
};
llvm::StringRef precisionName(WeightPrecision p); ///< f32, bf16, int8
std::optional<WeightPrecision> parsePrecision(llvm::StringRef name);

/// Hyper-parameters of a model. Every size is read off the checkpoint's
/// tensor shapes by `inferConfig`; the fields a checkpoint cannot show
/// (norm epsilon) keep the mamba_ssm defaults.
struct ModelConfig {
  Arch arch = Arch::Mamba1;
  int64_t vocab = 0;   ///< rows of the embedding (padded vocabulary)
  int64_t dModel = 0;
  int64_t nLayer = 0;
  int64_t dInner = 0;  ///< expand * d_model
  int64_t dState = 0;  ///< N
  int64_t dConv = 0;   ///< W, the causal convolution's width
  int64_t dtRank = 0;  ///< Mamba-1: rank of the dt projection
  int64_t headDim = 0; ///< Mamba-2: P; Transformer: attention head size
  int64_t nGroups = 0; ///< Mamba-2: groups of B and C
  int64_t attnHeads = 0, kvHeads = 0; ///< Transformer: query / KV heads
  int64_t ffnDim = 0;                 ///< Transformer: SwiGLU width
  double ropeTheta = 10000.0;         ///< Transformer: RoPE base
  /// Transformer: KV cache capacity in tokens (prompt + generated).
  int64_t context = 0;
  double normEps = 1e-5;
  /// The lm_head is the embedding (true for every released Mamba).
  bool tiedEmbeddings = true;
  /// Gated DeltaNet: value heads and their size (Hv, Vd; attnHeads and
  /// headDim are the query/key heads and K), short convolutions with a
  /// bias, beta doubled (fla's allow_neg_eigval).
  int64_t vHeads = 0, headVDim = 0;
  bool convBias = false, allowNegEigval = false;
  /// Storage of the projection weights; not read off the checkpoint (a
  /// loading choice, see Model::load).
  WeightPrecision precision = WeightPrecision::F32;

  /// Mamba-2 heads (d_inner / headdim).
  int64_t nHeads() const { return headDim ? dInner / headDim : 0; }
  /// "mamba1: d_model 768, n_layer 24, ..." for logs and errors.
  std::string describe() const;
};

/// The 130M configurations of the released checkpoints (state-spaces/
/// mamba-130m and mamba2-130m): d_model 768, 24 layers, vocab 50280.
ModelConfig mamba130m();
ModelConfig mamba2_130m();
/// A Llama-style Transformer of about the same size (d_model 768, 12
/// layers, 12 heads of 64, SwiGLU 2048, vocab 50280, 2048-token cache), the
/// comparison model for generation cost.
ModelConfig transformer130m();
/// A configuration by name: mamba-130m, mamba2-130m, transformer-130m,
/// gdn-130m (Gated DeltaNet), and the 2-layer tiny (Mamba-1), tiny2
/// (Mamba-2), tiny-transformer and tiny-gdn models (d_model 64, vocab 256)
/// of the tests and examples/lm.
std::optional<ModelConfig> configByName(llvm::StringRef name);

/// What a checkpoint's shapes cannot show, from a HuggingFace config.json
/// (0 = unknown: the defaults below apply).
struct ConfigHints {
  int64_t nGroups = 0;   ///< Mamba-2 `n_groups` (default 1)
  double normEps = 0;    ///< `layer_norm_epsilon` / `rms_norm_eps` (1e-5)
  int64_t attnHeads = 0; ///< `num_attention_heads` (default: head size 64)
  int64_t kvHeads = 0;   ///< `num_key_value_heads` (default: attnHeads)
  int64_t headDim = 0;   ///< `head_dim` (default hidden / heads)
  double ropeTheta = 0;  ///< `rope_theta` (10000)
  int64_t context = 0;   ///< `max_position_embeddings` (2048)
  int64_t numHeads = 0;  ///< Gated DeltaNet `num_heads` (query/key heads)
  bool allowNegEigval = false; ///< Gated DeltaNet `allow_neg_eigval`
};
/// Reads the hints from a config.json; a missing file gives no hints.
llvm::Expected<ConfigHints> readConfigHints(llvm::StringRef path);
/// The config.json that goes with `checkpoint`: `<stem>.config.json` when it
/// exists, else `config.json` in the same folder (HuggingFace layout).
std::string configPathFor(llvm::StringRef checkpoint);
/// Writes `config` as a HuggingFace-style config.json (the fields
/// readConfigHints reads, and the sizes for people).
llvm::Error writeConfigJson(llvm::StringRef path, const ModelConfig &config);

/// Name, shape and meaning of one checkpoint tensor.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};
/// Every tensor a checkpoint of `config` holds, in the order of the
/// mamba_ssm module tree (lm_head.weight only when not tied).
std::vector<TensorSpec> checkpointTensors(const ModelConfig &config);

/// Reads the architecture and sizes off the tensor shapes. Accepts both
/// embedding names (`backbone.embedding.weight` of mamba_ssm and
/// `backbone.embeddings.weight` of transformers). Errors name the tensor
/// that is missing or has an unexpected shape.
/// A Mamba-2 checkpoint shows ngroups * d_state only, a Transformer
/// checkpoint heads * head size only: `hints` split them.
llvm::Expected<ModelConfig> inferConfig(const WeightMap &weights,
                                        const ConfigHints &hints = {});
/// Checks that `weights` hold every tensor of `config` with its shape;
/// the error lists every missing or mis-shaped tensor.
llvm::Error checkWeights(const ModelConfig &config, const WeightMap &weights);

/// Random weights of `config` in checkpoint layout (f32), initialised as
/// mamba_ssm initialises a fresh model (A_log = log(1..N), D = 1, dt bias
/// from dt in [1e-3, 0.1], projections uniform in +-1/sqrt(fan_in)), so a
/// random model's activations stay in the range of a trained one.
WeightMap randomWeights(const ModelConfig &config, uint64_t seed);
llvm::Error writeWeights(llvm::StringRef path, const WeightMap &weights);

/// The ssm program of `config`: public functions
///   @forward(tokens: [L] i64, weights...) -> logits [L, vocab]
///   @prefill(tokens: [L] i64, weights..., states...) -> (last logits [vocab], states...)
///   @extend(tokens: [L] i64, weights..., states...) -> (last logits [vocab], states...)
///     (prefill continued from the lent states)
///   @decode(token: [1] i64, weights..., states...) -> (logits [vocab], states...)
/// (the Transformer's extend and decode also take the position, an i64,
/// after the tokens).
/// Weights are the checkpoint tensors stacked over layers (see
/// `programWeights`); states are stacked the same way and lent to prefill
/// and decode, which update them in place (pass the same buffers as the
/// state out-params). With `promptSlices` the Transformer's @prefill also
/// takes the position of its first token (after the tokens): one rank's
/// slice of a prompt prefilled across ranks, its keys and values written
/// to cache slots [0, L).
std::string programText(const ModelConfig &config, bool promptSlices = false);
/// The batched program of `config` for `batch` sequences (static: the
/// state pools are [n_layer, batch, ...] and updated in place, as the
/// single-sequence states are). Mamba:
///   @extend_batch(tokens: [T] i64, cu_seqlens: [batch + 1] i64, weights...,
///                 pools...) -> (logits [batch, vocab], pools...)
/// the sequences packed along the tokens, each continuing from its pool row
/// (zeroed by the caller for a new sequence): a batch of prompts, or a
/// decode step with one token per sequence. Transformer:
///   @prefill_batch(tokens [T], cu_seqlens, positions [T], weights...,
///                  caches...) -> (logits [batch, vocab], caches...)
///   @decode_batch(tokens [batch], positions [batch], weights..., caches...)
/// (packed causal attention within each prompt; ssm.attention_step with a
/// position per sequence).
std::string batchProgramText(const ModelConfig &config, int64_t batch);
/// Names and shapes of the program's weight arguments (stacked over layers)
/// and of its decoding states, in argument order.
using NamedShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;
/// With Int8 precision each projection `P` is an i8 argument followed by
/// `P_scale` (f32, its shape less the last dimension: one scale per row).
NamedShapes programWeights(const ModelConfig &config);
NamedShapes programStates(const ModelConfig &config);
/// Whether program weight `name` is a projection (stored at the
/// configuration's precision; see WeightPrecision).
bool isProjection(llvm::StringRef name);
/// The element type of program weight `name` under `config`.
DType programWeightType(const ModelConfig &config, llvm::StringRef name);

struct SamplingOptions {
  /// 0 picks the most likely token (greedy); otherwise logits are divided
  /// by the temperature before the softmax.
  double temperature = 0.0;
  /// Sample among the k most likely tokens only (0: all).
  int64_t topK = 0;
  uint64_t seed = 1;
};

struct GenerationStats {
  int64_t promptTokens = 0, newTokens = 0;
  int64_t decodeSteps = 0; ///< newTokens - 1: the first comes from prefill
  double compileSeconds = 0, loadSeconds = 0;
  double prefillSeconds = 0, decodeSeconds = 0;
  double prefillTokensPerSecond() const {
    return prefillSeconds > 0 ? promptTokens / prefillSeconds : 0;
  }
  double decodeTokensPerSecond() const {
    return decodeSeconds > 0 ? decodeSteps / decodeSeconds : 0;
  }
};

/// A sequence's decoding state after `position` tokens, detached from the
/// model: saved after a prefill (or at positions inside one), written to a
/// file (apps/lm/StateCache.h) and restored later to continue the sequence
/// without running its tokens again.
struct SequenceState {
  int64_t position = 0;
  /// In `programStates` order. Mamba: the conv and SSM states as they are;
  /// Transformer: the caches' filled slots only,
  /// [n_layer, kv_heads, position, head_dim] (see `savedStateShapes`).
  std::vector<OwnedTensor> tensors;
  /// The logits after the last token [vocab]: the next token's
  /// distribution, so a restored state can generate at once.
  OwnedTensor logits;
};
/// Shapes of SequenceState::tensors of `config` at `position`.
NamedShapes savedStateShapes(const ModelConfig &config, int64_t position);

/// Picks the next token from `logits` (greedy or sampled).
class Sampler {
public:
  explicit Sampler(const SamplingOptions &options);
  int64_t next(const float *logits, int64_t vocab);

private:
  SamplingOptions options;
  uint64_t state;
  double uniform();
};

/// A compiled model with its weights and its decoding state.
class Model {
public:
  /// Reads a .safetensors checkpoint, infers its configuration and compiles
  /// its program. The config.json of `configPathFor(path)`, when present,
  /// supplies what the shapes cannot show (see ConfigHints).
  /// `precision` is how the projection weights are held: converted on
  /// load (bf16 tensors of a bf16 checkpoint are taken as they are).
  static llvm::Expected<std::unique_ptr<Model>>
  load(llvm::StringRef path, const JitOptions &options = {},
       WeightPrecision precision = WeightPrecision::F32);
  /// Takes checkpoint-layout weights (any float dtype; converted to f32,
  /// the projections to `precision`).
  static llvm::Expected<std::unique_ptr<Model>>
  fromWeights(WeightMap weights, const JitOptions &options = {},
              const ConfigHints &hints = {},
              WeightPrecision precision = WeightPrecision::F32);
  ~Model();

  const ModelConfig &config() const;
  /// Seconds spent compiling the program / reading and stacking weights.
  double compileSeconds() const;
  /// Whether the model's program came from JitOptions::cacheDir (then
  /// compileSeconds is the time to load it).
  bool programFromCache() const;
  double loadSeconds() const;

  /// Logits at every position of `tokens`, [L, vocab]; the decoding state
  /// is left alone.
  llvm::Expected<OwnedTensor> forward(llvm::ArrayRef<int64_t> tokens);
  /// Runs the prompt through the sequence ops and returns the logits after
  /// its last token [vocab]; the decoding state becomes the prompt's.
  llvm::Expected<OwnedTensor> prefill(llvm::ArrayRef<int64_t> tokens);
  /// Feeds one token (after prefill) and returns the next logits [vocab].
  llvm::Expected<OwnedTensor> decode(int64_t token);
  /// One rank's part of a prompt prefilled across ranks: the model was
  /// loaded with JitOptions::shardSequenceFunctions = {"prefill"}, every
  /// rank calls this with its contiguous `slice` (in rank order, none
  /// empty) of a prompt of `promptLength` tokens, and the layers'
  /// recurrences are combined between the ranks (docs/distributed.md).
  /// On the last rank the logits and the decoding state are the whole
  /// prompt's (position() = promptLength), ready to decode; on the others
  /// they are their slice's and mean nothing. The Transformer's slices
  /// attend over the keys before them through the ring attention, and the
  /// ranks' keys and values are then gathered into the last rank's cache.
  llvm::Expected<OwnedTensor> prefillSlice(llvm::ArrayRef<int64_t> slice,
                                           int64_t promptLength);

  /// Called with the state at each save position of a prefill; an error
  /// stops the prefill and is returned.
  using StateSink = std::function<llvm::Error(SequenceState)>;
  /// Prefill that also hands out the states at `savePositions` (token
  /// counts in (0, L]; others are ignored): the prompt is run in pieces
  /// split there, each piece continuing from the state the previous one
  /// left (@extend), which is exact because every sequence op takes its
  /// initial state. A position of L gives the state after the prompt.
  llvm::Expected<OwnedTensor> prefill(llvm::ArrayRef<int64_t> tokens,
                                      llvm::ArrayRef<int64_t> savePositions,
                                      const StateSink &onState);
  /// Runs `tokens` on from the current state (prefill when there is
  /// none): the logits after the last one. `savePositions` are sequence
  /// positions (counted from the start of the sequence, not of `tokens`)
  /// in (position(), position() + L].
  llvm::Expected<OwnedTensor>
  extend(llvm::ArrayRef<int64_t> tokens,
         llvm::ArrayRef<int64_t> savePositions = {},
         const StateSink &onState = {});
  /// The current state (an error before prefill).
  llvm::Expected<SequenceState> saveState() const;
  /// Makes `state` the current one; checks its shapes against the model
  /// (and the Transformer's position against the cache).
  llvm::Error restoreState(const SequenceState &state);
  /// Identifies the model for state caches: a hash of the configuration
  /// and the checkpoint file's path, size and modification time (`load`),
  /// or of the configuration and the weights' values (`fromWeights`).
  const std::string &identity() const;

  /// Prefill `prompt`, then `newTokens` decode steps with `sampling`;
  /// returns the new tokens. `onToken` (optional) sees each as it comes.
  llvm::Expected<std::vector<int64_t>>
  generate(llvm::ArrayRef<int64_t> prompt, int64_t newTokens,
           const SamplingOptions &sampling, GenerationStats *stats = nullptr,
           const std::function<void(int64_t)> &onToken = {});

  /// Samples the first token from `logits` (the result of a prefill,
  /// extend or restored state), then `newTokens - 1` decode steps; the
  /// stats count no prefill.
  llvm::Expected<std::vector<int64_t>>
  generateFrom(const OwnedTensor &logits, int64_t newTokens,
               const SamplingOptions &sampling,
               GenerationStats *stats = nullptr,
               const std::function<void(int64_t)> &onToken = {});

  /// Batched generation: B sequences at once, with their own state pools
  /// (independent of the single-sequence state above), compiled on first
  /// use of each B (batchProgramText).
  ///
  /// Prefills B prompts (any lengths >= 1) in one call, packed along the
  /// tokens; returns the logits after each prompt's last token [B, vocab].
  llvm::Expected<OwnedTensor>
  prefillBatch(llvm::ArrayRef<std::vector<int64_t>> prompts);

  /// A prompt of a batch with a state cache: it may continue from a saved
  /// state of its first tokens and hand out its states at positions.
  struct BatchSequence {
    std::vector<int64_t> tokens; ///< the whole prompt
    /// The state after its first start->position tokens (at most the
    /// prompt), restored into the sequence's row of the pools; null: from
    /// the start.
    const SequenceState *start = nullptr;
    /// Positions in (start position, tokens.size()] whose states go to
    /// `onState` (others are ignored), as `prefill`'s savePositions.
    std::vector<int64_t> savePositions;
    StateSink onState;
  };
  /// prefillBatch of sequences that may start from saved states and save
  /// states: each runs only its tokens after its start, all packed in one
  /// call per round; a round takes each sequence to its next save position
  /// (or its end), so there are as many calls as the most save positions
  /// any sequence has below its end, plus one. A sequence whose start is
  /// its whole prompt runs nothing and returns its state's logits.
  /// Recurrent models only (the Transformer's batched prefill starts every
  /// prompt at position 0): a Transformer batch takes neither starts nor
  /// save positions.
  llvm::Expected<OwnedTensor>
  prefillSequences(llvm::ArrayRef<BatchSequence> sequences);
  /// One decode step of each sequence of the last prefillBatch: `tokens`
  /// [B]; returns the next logits [B, vocab].
  llvm::Expected<OwnedTensor> decodeBatch(llvm::ArrayRef<int64_t> tokens);
  /// prefillBatch, then `newTokens` per prompt, each sequence sampled as
  /// `generate` samples it alone (its own Sampler with `sampling`'s seed).
  /// Stats count the tokens of all sequences (tokens/s is the batch's
  /// throughput); compileSeconds includes compiling the batched program.
  llvm::Expected<std::vector<std::vector<int64_t>>>
  generateBatch(llvm::ArrayRef<std::vector<int64_t>> prompts,
                int64_t newTokens, const SamplingOptions &sampling,
                GenerationStats *stats = nullptr);
  /// generateBatch through prefillSequences; promptTokens counts the
  /// tokens prefilled (those after each sequence's start).
  llvm::Expected<std::vector<std::vector<int64_t>>>
  generateSequences(llvm::ArrayRef<BatchSequence> sequences,
                    int64_t newTokens, const SamplingOptions &sampling,
                    GenerationStats *stats = nullptr);

  /// Bytes of the weights the program reads (projections at their
  /// precision, with their scales).
  size_t weightBytes() const;
  /// Bytes of the decoding state: constant for the Mamba models; for the
  /// Transformer, the KV cache of `context` tokens.
  size_t stateBytes() const;
  /// Tokens processed since the last prefill (the next decode position).
  int64_t position() const;

private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace ssmc::models

#endif // SSMC_APPS_LM_LANGUAGEMODEL_H
