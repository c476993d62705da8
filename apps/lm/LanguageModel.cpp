//===- LanguageModel.cpp - compile, load and drive a language model -------===//

#include "apps/lm/LanguageModel.h"
#include "ssmc/TensorIO.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

using llvm::Error;
using llvm::Expected;

namespace ssmc::models {

namespace {
Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

/// Copies `src` (any float dtype) into `dst` as bf16, rounded to nearest
/// even; a bf16 tensor is copied as it is.
void copyAsBF16(const OwnedTensor &src, uint16_t *dst) {
  if (src.dtype() == DType::BF16) {
    std::memcpy(dst, src.data(), src.numel() * sizeof(uint16_t));
    return;
  }
  for (int64_t i = 0, n = src.numel(); i < n; ++i)
    dst[i] = floatToBf16(float(src.getAsDouble(i)));
}

/// Quantizes `src` ([rows, cols], any float dtype) to int8 with one scale
/// per row: scale = max |w| / 127, q = round(w / scale) (0 for a zero row).
void quantizeRowsInt8(const OwnedTensor &src, int64_t rows, int8_t *q,
                      float *scales) {
  int64_t cols = src.numel() / rows;
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0;
    for (int64_t j = 0; j < cols; ++j) {
      row[j] = float(src.getAsDouble(r * cols + j));
      amax = std::max(amax, std::fabs(row[j]));
    }
    float scale = amax / 127.0f;
    float inv = amax > 0 ? 127.0f / amax : 0.0f;
    scales[r] = scale;
    for (int64_t j = 0; j < cols; ++j)
      q[r * cols + j] = int8_t(
          std::clamp(std::nearbyint(row[j] * inv), -127.0f, 127.0f));
  }
}

/// Copies `src` (any float dtype, contiguous) into `dst` as f32.
void copyAsF32(const OwnedTensor &src, float *dst) {
  if (src.dtype() == DType::F32) {
    std::memcpy(dst, src.data(), src.numel() * sizeof(float));
    return;
  }
  for (int64_t i = 0, n = src.numel(); i < n; ++i)
    dst[i] = float(src.getAsDouble(i));
}

/// The checkpoint tensor (per layer `i`, or global) that fills program
/// weight `name`.
std::string checkpointName(const ModelConfig &c, const std::string &name,
                           int64_t i, const WeightMap &w) {
  bool tf = c.arch == Arch::Transformer;
  if (name == "embedding" || (name == "lm_head" && c.tiedEmbeddings)) {
    if (tf)
      return "model.embed_tokens.weight";
    return w.count("backbone.embedding.weight") ? "backbone.embedding.weight"
                                                : "backbone.embeddings.weight";
  }
  if (name == "lm_head")
    return "lm_head.weight";
  if (name == "norm_f")
    return tf ? "model.norm.weight" : "backbone.norm_f.weight";
  static const std::pair<const char *, const char *> kMamba[] = {
      {"norm", "norm.weight"},
      {"in_proj", "mixer.in_proj.weight"},
      {"conv_weight", "mixer.conv1d.weight"},
      {"conv_bias", "mixer.conv1d.bias"},
      {"x_proj", "mixer.x_proj.weight"},
      {"dt_proj_weight", "mixer.dt_proj.weight"},
      {"dt_proj_bias", "mixer.dt_proj.bias"},
      {"dt_bias", "mixer.dt_bias"},
      {"A_log", "mixer.A_log"},
      {"D", "mixer.D"},
      {"gate_norm", "mixer.norm.weight"},
      {"out_proj", "mixer.out_proj.weight"}};
  static const std::pair<const char *, const char *> kTransformer[] = {
      {"attn_norm", "input_layernorm.weight"},
      {"wq", "self_attn.q_proj.weight"},
      {"wk", "self_attn.k_proj.weight"},
      {"wv", "self_attn.v_proj.weight"},
      {"wo", "self_attn.o_proj.weight"},
      {"mlp_norm", "post_attention_layernorm.weight"},
      {"w_gate", "mlp.gate_proj.weight"},
      {"w_up", "mlp.up_proj.weight"},
      {"w_down", "mlp.down_proj.weight"}};
  std::string prefix = (tf ? "model.layers." : "backbone.layers.") +
                       std::to_string(i) + ".";
  for (auto [prog, leaf] : tf ? llvm::ArrayRef(kTransformer)
                              : llvm::ArrayRef(kMamba))
    if (name == prog)
      return prefix + leaf;
  return name;
}
} // namespace

llvm::StringRef precisionName(WeightPrecision p) {
  switch (p) {
  case WeightPrecision::BF16:
    return "bf16";
  case WeightPrecision::Int8:
    return "int8";
  case WeightPrecision::F32:
    break;
  }
  return "f32";
}

std::optional<WeightPrecision> parsePrecision(llvm::StringRef name) {
  for (WeightPrecision p : {WeightPrecision::F32, WeightPrecision::BF16,
                            WeightPrecision::Int8})
    if (name == precisionName(p))
      return p;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Sampler
//===----------------------------------------------------------------------===//

Sampler::Sampler(const SamplingOptions &o)
    : options(o), state(o.seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL) {}

double Sampler::uniform() {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return ((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

int64_t Sampler::next(const float *logits, int64_t vocab) {
  if (options.temperature <= 0)
    return std::max_element(logits, logits + vocab) - logits;
  std::vector<int64_t> ids(vocab);
  std::iota(ids.begin(), ids.end(), 0);
  int64_t k = options.topK > 0 ? std::min(options.topK, vocab) : vocab;
  auto byLogit = [&](int64_t a, int64_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (k < vocab)
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), byLogit);
  double top = logits[*std::max_element(
      ids.begin(), ids.begin() + k,
      [&](int64_t a, int64_t b) { return logits[a] < logits[b]; })];
  std::vector<double> p(k);
  double sum = 0;
  for (int64_t j = 0; j < k; ++j)
    sum += p[j] = std::exp((logits[ids[j]] - top) / options.temperature);
  double r = uniform() * sum;
  for (int64_t j = 0; j < k; ++j) {
    r -= p[j];
    if (r < 0)
      return ids[j];
  }
  return ids[k - 1];
}

//===----------------------------------------------------------------------===//
// Model
//===----------------------------------------------------------------------===//

struct Model::Impl {
  ModelConfig config;
  std::unique_ptr<Jit> jit;
  std::vector<OwnedTensor> weights;   // program argument order
  std::vector<OwnedTensor> states; // decoding state, updated in place
  bool primed = false;  // prefill has run
  int64_t position = 0; // tokens in the state
  double compileSeconds = 0, loadSeconds = 0;

  std::vector<Tensor> weightViews() {
    std::vector<Tensor> v;
    for (OwnedTensor &t : weights)
      v.push_back(t.view());
    return v;
  }
  /// Calls `entry` with `lead` arguments, the weights and the states, which
  /// the program updates in place: the same buffers go in and come out as
  /// out-params, so no state is copied per call. Returns the logits.
  Expected<OwnedTensor> callWithStates(llvm::StringRef entry,
                                       llvm::ArrayRef<Tensor> lead) {
    std::vector<Tensor> inputs(lead.begin(), lead.end());
    for (Tensor &w : weightViews())
      inputs.push_back(w);
    for (OwnedTensor &s : states)
      inputs.push_back(s.view());
    OwnedTensor logits(DType::F32, {config.vocab});
    std::vector<Tensor> outputs{logits.view()};
    for (OwnedTensor &s : states)
      outputs.push_back(s.view());
    if (Error e = jit->invoke(entry, inputs, outputs))
      return std::move(e);
    return std::move(logits);
  }

  /// The Transformer's KV cache holds `context` tokens.
  Error checkContext(int64_t tokens) const {
    if (config.arch != Arch::Transformer || tokens <= config.context)
      return Error::success();
    return err(llvm::formatv("{0} tokens exceed the KV cache of {1} tokens "
                             "(context)",
                             tokens, config.context)
                   .str());
  }
  Error checkTokens(llvm::ArrayRef<int64_t> tokens) const {
    if (tokens.empty())
      return err("the prompt is empty: prefill needs at least one token");
    for (size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] < 0 || tokens[i] >= config.vocab)
        return err(llvm::formatv("token #{0} is {1}, outside the vocabulary "
                                 "[0, {2})",
                                 i, tokens[i], config.vocab)
                       .str());
    return Error::success();
  }
};

Model::Model(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Model::~Model() = default;

const ModelConfig &Model::config() const { return impl->config; }
double Model::compileSeconds() const { return impl->compileSeconds; }
double Model::loadSeconds() const { return impl->loadSeconds; }

int64_t Model::position() const { return impl->position; }

size_t Model::weightBytes() const {
  size_t b = 0;
  for (const OwnedTensor &t : impl->weights)
    b += t.sizeInBytes();
  return b;
}

size_t Model::stateBytes() const {
  size_t b = 0;
  for (const OwnedTensor &t : impl->states)
    b += t.sizeInBytes();
  return b;
}

Expected<std::unique_ptr<Model>> Model::load(llvm::StringRef path,
                                             const JitOptions &options,
                                             WeightPrecision precision) {
  auto t0 = std::chrono::steady_clock::now();
  auto hints = readConfigHints(configPathFor(path));
  if (!hints)
    return hints.takeError();
  auto weights = readSafetensors(path);
  if (!weights)
    return weights.takeError();
  double readSeconds = secondsSince(t0);
  auto model = fromWeights(std::move(*weights), options, *hints, precision);
  if (model)
    (*model)->impl->loadSeconds += readSeconds;
  return model;
}

Expected<std::unique_ptr<Model>>
Model::fromWeights(WeightMap weights, const JitOptions &options,
                   const ConfigHints &hints, WeightPrecision precision) {
  auto config = inferConfig(weights, hints);
  if (!config)
    return config.takeError();
  config->precision = precision;
  auto impl = std::make_unique<Impl>();
  impl->config = *config;

  auto t0 = std::chrono::steady_clock::now();
  // An int8 projection's row scales, filled with it, wait for their own
  // argument (the next one).
  std::map<std::string, OwnedTensor> scales;
  for (auto &[name, shape] : programWeights(*config)) {
    if (auto it = scales.find(name); it != scales.end()) {
      impl->weights.push_back(std::move(it->second));
      scales.erase(it);
      continue;
    }
    DType dtype = programWeightType(*config, name);
    OwnedTensor stacked(dtype, shape);
    bool perLayer = shape.size() > 1 && name != "embedding" &&
                    name != "lm_head";
    if (name == "norm_f")
      perLayer = false;
    int64_t layers = perLayer ? config->nLayer : 1;
    int64_t per = stacked.numel() / layers;
    for (int64_t i = 0; i < layers; ++i) {
      const OwnedTensor &src =
          weights.at(checkpointName(*config, name, i, weights));
      if (src.numel() != per)
        return err("internal: tensor for '" + name + "' has " +
                   std::to_string(src.numel()) + " elements, expected " +
                   std::to_string(per));
      if (dtype == DType::BF16) {
        copyAsBF16(src, stacked.as<uint16_t>() + i * per);
      } else if (dtype == DType::I8) {
        int64_t rows = shape[shape.size() - 2];
        auto [it, fresh] = scales.try_emplace(
            name + "_scale", DType::F32,
            std::vector<int64_t>(shape.begin(), shape.end() - 1));
        quantizeRowsInt8(src, rows, stacked.as<int8_t>() + i * per,
                         it->second.as<float>() + i * rows);
      } else {
        copyAsF32(src, stacked.as<float>() + i * per);
      }
    }
    impl->weights.push_back(std::move(stacked));
  }
  weights.clear();
  for (auto &[name, shape] : programStates(*config))
    impl->states.emplace_back(DType::F32, shape);
  impl->loadSeconds = secondsSince(t0);

  t0 = std::chrono::steady_clock::now();
  auto jit = Jit::compile(programText(*config), options,
                          "<" + archName(config->arch).str() + " model>");
  if (!jit)
    return jit.takeError();
  impl->jit = std::move(*jit);
  impl->compileSeconds = secondsSince(t0);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

Expected<OwnedTensor> Model::forward(llvm::ArrayRef<int64_t> tokens) {
  if (Error e = impl->checkTokens(tokens))
    return std::move(e);
  Tensor tok{const_cast<int64_t *>(tokens.data()), DType::I64,
             {int64_t(tokens.size())}, {}};
  std::vector<Tensor> inputs{tok};
  for (Tensor &w : impl->weightViews())
    inputs.push_back(w);
  auto out = impl->jit->run("forward", inputs);
  if (!out)
    return out.takeError();
  return std::move((*out)[0]);
}

Expected<OwnedTensor> Model::prefill(llvm::ArrayRef<int64_t> tokens) {
  if (Error e = impl->checkTokens(tokens))
    return std::move(e);
  if (Error e = impl->checkContext(tokens.size()))
    return std::move(e);
  Tensor tok{const_cast<int64_t *>(tokens.data()), DType::I64,
             {int64_t(tokens.size())}, {}};
  auto logits = impl->callWithStates("prefill", {tok});
  if (!logits)
    return logits.takeError();
  impl->primed = true;
  impl->position = tokens.size();
  return logits;
}

Expected<OwnedTensor> Model::decode(int64_t token) {
  if (!impl->primed)
    return err("decode before prefill: run prefill on the prompt first");
  if (Error e = impl->checkTokens({token}))
    return std::move(e);
  if (Error e = impl->checkContext(impl->position + 1))
    return std::move(e);
  std::vector<Tensor> lead{Tensor{&token, DType::I64, {1}, {}}};
  int64_t pos = impl->position;
  if (impl->config.arch == Arch::Transformer)
    lead.push_back(Tensor{&pos, DType::I64, {}, {}});
  auto logits = impl->callWithStates("decode", lead);
  if (!logits)
    return logits.takeError();
  ++impl->position;
  return logits;
}

Expected<std::vector<int64_t>>
Model::generate(llvm::ArrayRef<int64_t> prompt, int64_t newTokens,
                const SamplingOptions &sampling, GenerationStats *stats,
                const std::function<void(int64_t)> &onToken) {
  GenerationStats local;
  GenerationStats &s = stats ? *stats : local;
  s = GenerationStats();
  s.promptTokens = prompt.size();
  s.compileSeconds = impl->compileSeconds;
  s.loadSeconds = impl->loadSeconds;
  Sampler sampler(sampling);
  std::vector<int64_t> out;
  if (newTokens <= 0)
    return out;
  auto t0 = std::chrono::steady_clock::now();
  auto logits = prefill(prompt);
  if (!logits)
    return logits.takeError();
  s.prefillSeconds = secondsSince(t0);
  int64_t tok = sampler.next(logits->as<float>(), impl->config.vocab);
  out.push_back(tok);
  if (onToken)
    onToken(tok);
  t0 = std::chrono::steady_clock::now();
  while (int64_t(out.size()) < newTokens) {
    auto next = decode(tok);
    if (!next)
      return next.takeError();
    ++s.decodeSteps;
    tok = sampler.next(next->as<float>(), impl->config.vocab);
    out.push_back(tok);
    if (onToken)
      onToken(tok);
  }
  s.decodeSeconds = secondsSince(t0);
  s.newTokens = out.size();
  return out;
}

} // namespace ssmc::models
