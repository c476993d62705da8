//===- LanguageModel.cpp - compile, load and drive a language model -------===//

#include "apps/lm/LanguageModel.h"
#include "apps/lm/GatedDeltaNet.h"
#include "ssmc/Cuda.h"
#include "ssmc/Distributed.h"
#include "ssmc/TensorIO.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
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
  if (c.arch == Arch::GatedDeltaNet)
    return gatedDeltaNetCheckpointName(c, name, i);
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

namespace {
/// A weight or state argument of the model's programs, kept across calls:
/// host memory, or on the CUDA target device-resident memory
/// (cuda::DeviceTensor), which the kernels use in place and which host code
/// (the program's host ops, and saveState, restoreState and the batch pools'
/// rows here) reads and writes in place, since it is CUDA managed memory.
class ArgTensor {
public:
  ArgTensor() = default;
  explicit ArgTensor(OwnedTensor host) : host(std::move(host)) {}
  /// Zeros of `shape` (f32), on the device when `resident`.
  static Expected<ArgTensor> zeros(std::vector<int64_t> shape, bool resident) {
    ArgTensor t(OwnedTensor(DType::F32, std::move(shape)));
    if (!resident)
      return std::move(t);
    if (Error e = t.moveToDevice())
      return std::move(e);
    return std::move(t);
  }

  /// Uploads the host tensor into a device-resident one and frees it.
  Error moveToDevice() {
    if (onDevice)
      return Error::success();
    auto d = cuda::DeviceTensor::upload(host.view());
    if (!d)
      return d.takeError();
    device = std::move(*d);
    onDevice = true;
    host = OwnedTensor();
    return Error::success();
  }

  Tensor view() const { return onDevice ? device.view() : host.view(); }
  void *data() const { return onDevice ? device.data() : host.data(); }
  template <typename T> T *as() const { return static_cast<T *>(data()); }
  const std::vector<int64_t> &shape() const {
    return onDevice ? device.shape() : host.shape();
  }
  DType dtype() const { return onDevice ? device.dtype() : host.dtype(); }
  int64_t numel() const { return numElements(shape()); }
  size_t sizeInBytes() const { return numel() * dtypeSize(dtype()); }

private:
  // Mutable as the device tensor's memory is: a const argument (saveState's)
  // still hands out writable views, as the programs' signatures want.
  mutable OwnedTensor host;
  cuda::DeviceTensor device;
  bool onDevice = false;
};
} // namespace

struct Model::Impl {
  ModelConfig config;
  std::unique_ptr<Jit> jit;
  std::vector<ArgTensor> weights; // program argument order
  std::vector<ArgTensor> states;  // decoding state, updated in place
  /// CUDA target with a driver: weights, states and batch pools live on the
  /// device (uploaded once at load; a decode step copies none of them).
  bool resident = false;
  bool primed = false;  // prefill has run
  int64_t position = 0; // tokens in the state
  OwnedTensor lastLogits; // after the last token run (saveState)
  std::string identity;
  double compileSeconds = 0, loadSeconds = 0;
  JitOptions jitOptions;

  /// The batched program of one batch size and its state pools.
  struct Batch {
    int64_t size = 0;
    std::unique_ptr<Jit> jit;
    std::vector<ArgTensor> pools;       // [NL, B, ...]
    std::vector<int64_t> positions;     // tokens per sequence
    double compileSeconds = 0;
  };
  std::map<int64_t, Batch> batches;
  Batch *current = nullptr; // of the last prefillBatch

  Expected<Batch *> batchOf(int64_t size) {
    auto it = batches.find(size);
    if (it != batches.end())
      return &it->second;
    Batch b;
    b.size = size;
    auto t0 = std::chrono::steady_clock::now();
    auto jit = Jit::compile(batchProgramText(config, size), jitOptions,
                            "<" + archName(config.arch).str() +
                                " model, batch " + std::to_string(size) + ">");
    if (!jit)
      return jit.takeError();
    b.jit = std::move(*jit);
    b.compileSeconds = secondsSince(t0);
    for (auto &[name, shape] : programStates(config)) {
      std::vector<int64_t> pool(shape);
      pool.insert(pool.begin() + 1, size);
      auto t = ArgTensor::zeros(std::move(pool), resident);
      if (!t)
        return t.takeError();
      b.pools.push_back(std::move(*t));
    }
    return &batches.emplace(size, std::move(b)).first->second;
  }

  /// Calls a batched entry: `lead`, the weights and the pools (in place);
  /// returns the logits [B, vocab].
  Expected<OwnedTensor> callBatch(Batch &b, llvm::StringRef entry,
                                  llvm::ArrayRef<Tensor> lead) {
    std::vector<Tensor> inputs(lead.begin(), lead.end());
    for (Tensor &w : weightViews())
      inputs.push_back(w);
    for (ArgTensor &s : b.pools)
      inputs.push_back(s.view());
    OwnedTensor logits(DType::F32, {b.size, config.vocab});
    std::vector<Tensor> outputs{logits.view()};
    for (ArgTensor &s : b.pools)
      outputs.push_back(s.view());
    if (Error e = b.jit->invoke(entry, inputs, outputs))
      return std::move(e);
    return std::move(logits);
  }

  void keepLogits(const OwnedTensor &logits) {
    if (lastLogits.numel() != logits.numel())
      lastLogits = OwnedTensor(DType::F32, {config.vocab});
    std::memcpy(lastLogits.data(), logits.data(), logits.sizeInBytes());
  }

  /// One piece of a prompt: @prefill from an empty state, else @extend at
  /// the current position.
  Expected<OwnedTensor> runPiece(llvm::ArrayRef<int64_t> tokens) {
    Tensor tok{const_cast<int64_t *>(tokens.data()), DType::I64,
               {int64_t(tokens.size())}, {}};
    int64_t pos = position;
    std::vector<Tensor> lead{tok};
    if (primed && config.arch == Arch::Transformer)
      lead.push_back(Tensor{&pos, DType::I64, {}, {}});
    auto logits = callWithStates(primed ? "extend" : "prefill", lead);
    if (!logits)
      return logits.takeError();
    primed = true;
    position += tokens.size();
    keepLogits(*logits);
    return logits;
  }

  std::vector<Tensor> weightViews() {
    std::vector<Tensor> v;
    for (ArgTensor &t : weights)
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
    for (ArgTensor &s : states)
      inputs.push_back(s.view());
    OwnedTensor logits(DType::F32, {config.vocab});
    std::vector<Tensor> outputs{logits.view()};
    for (ArgTensor &s : states)
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
  /// Whether `s` fits the model: a position of at least one token within
  /// the context, the tensors of savedStateShapes, vocabulary logits.
  Error checkState(const SequenceState &s) const {
    if (s.position <= 0)
      return err(llvm::formatv("a saved state holds at least one token; this "
                               "one has position {0}",
                               s.position)
                     .str());
    if (Error e = checkContext(s.position))
      return e;
    NamedShapes shapes = savedStateShapes(config, s.position);
    if (s.tensors.size() != shapes.size())
      return err(llvm::formatv("the state has {0} tensors; {1} expects {2}",
                               s.tensors.size(), archName(config.arch),
                               shapes.size())
                     .str());
    auto shapeStr = [](llvm::ArrayRef<int64_t> v) {
      std::string r = "[";
      for (size_t i = 0; i < v.size(); ++i)
        r += (i ? ", " : "") + std::to_string(v[i]);
      return r + "]";
    };
    for (size_t i = 0; i < shapes.size(); ++i)
      if (s.tensors[i].dtype() != DType::F32 ||
          s.tensors[i].shape() != shapes[i].second)
        return err("state tensor '" + shapes[i].first + "' has shape " +
                   shapeStr(s.tensors[i].shape()) +
                   "; the model expects f32 " + shapeStr(shapes[i].second));
    if (s.logits.dtype() != DType::F32 || s.logits.numel() != config.vocab)
      return err(llvm::formatv("the state's logits have {0} entries; the "
                               "vocabulary has {1}",
                               s.logits.numel(), config.vocab)
                     .str());
    return Error::success();
  }

  /// Layer l of row s of recurrent pool i ([NL, B, ...]): `row` floats,
  /// as layer l of the sequence's state tensor i ([NL, ...]).
  static float *slotRow(Batch &b, size_t i, int64_t s, int64_t l,
                        int64_t row) {
    return b.pools[i].as<float>() + (l * b.size + s) * row;
  }
  /// Copies a sequence's state tensors into row `s` of the pools.
  static void restoreSlot(Batch &b, int64_t s, const SequenceState &st) {
    for (size_t i = 0; i < b.pools.size(); ++i) {
      const OwnedTensor &t = st.tensors[i];
      int64_t NL = t.shape()[0], row = t.numel() / NL;
      for (int64_t l = 0; l < NL; ++l)
        std::memcpy(slotRow(b, i, s, l, row), t.as<float>() + l * row,
                    row * sizeof(float));
    }
  }
  /// The state of pool row `s` after `position` tokens, with `logits`.
  SequenceState slotState(Batch &b, int64_t s, int64_t position,
                          const float *logits) const {
    SequenceState st;
    st.position = position;
    NamedShapes shapes = savedStateShapes(config, position);
    for (size_t i = 0; i < shapes.size(); ++i) {
      OwnedTensor t(DType::F32, shapes[i].second);
      int64_t NL = t.shape()[0], row = t.numel() / NL;
      for (int64_t l = 0; l < NL; ++l)
        std::memcpy(t.as<float>() + l * row, slotRow(b, i, s, l, row),
                    row * sizeof(float));
      st.tensors.push_back(std::move(t));
    }
    st.logits = OwnedTensor(DType::F32, {config.vocab});
    std::memcpy(st.logits.data(), logits, config.vocab * sizeof(float));
    return st;
  }

  /// prefillSequences of a recurrent model (extend_batch) in rounds: each
  /// round packs every sequence's tokens up to its next save position or
  /// its end (none for a sequence already there), then hands out the
  /// states asked for. Returns the logits after each prompt [B, vocab].
  Expected<OwnedTensor>
  prefillRounds(Batch &b, llvm::ArrayRef<Model::BatchSequence> seqs) {
    const int64_t B = b.size, V = config.vocab;
    OwnedTensor out(DType::F32, {B, V});
    // New sequences start from zero states, the others from theirs.
    for (ArgTensor &p : b.pools)
      std::memset(p.data(), 0, p.sizeInBytes());
    std::vector<int64_t> at(B, 0);
    std::vector<std::vector<int64_t>> cuts(B);
    for (int64_t s = 0; s < B; ++s) {
      const Model::BatchSequence &q = seqs[s];
      int64_t L = q.tokens.size();
      if (q.start) {
        at[s] = q.start->position;
        restoreSlot(b, s, *q.start);
        std::memcpy(out.as<float>() + s * V, q.start->logits.data(),
                    V * sizeof(float));
      }
      for (int64_t p : q.savePositions)
        if (p > at[s] && p < L)
          cuts[s].push_back(p);
      if (at[s] < L)
        cuts[s].push_back(L);
      llvm::sort(cuts[s]);
      cuts[s].erase(std::unique(cuts[s].begin(), cuts[s].end()),
                    cuts[s].end());
    }
    for (;;) {
      std::vector<int64_t> tokens, cu{0}, to(B, -1);
      for (int64_t s = 0; s < B; ++s) {
        if (!cuts[s].empty()) {
          to[s] = cuts[s].front();
          cuts[s].erase(cuts[s].begin());
          tokens.insert(tokens.end(), seqs[s].tokens.begin() + at[s],
                        seqs[s].tokens.begin() + to[s]);
        }
        cu.push_back(tokens.size());
      }
      if (tokens.empty())
        return std::move(out);
      Tensor tok{tokens.data(), DType::I64, {int64_t(tokens.size())}, {}};
      Tensor cuT{cu.data(), DType::I64, {B + 1}, {}};
      auto logits = callBatch(b, "extend_batch", {tok, cuT});
      if (!logits)
        return logits.takeError();
      for (int64_t s = 0; s < B; ++s) {
        if (to[s] < 0)
          continue;
        const Model::BatchSequence &q = seqs[s];
        at[s] = to[s];
        const float *row = logits->as<float>() + s * V;
        std::memcpy(out.as<float>() + s * V, row, V * sizeof(float));
        bool wanted = at[s] < int64_t(q.tokens.size()) ||
                      llvm::is_contained(q.savePositions, at[s]);
        if (wanted && q.onState)
          if (Error e = q.onState(slotState(b, s, at[s], row)))
            return std::move(e);
      }
    }
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

namespace {
/// FNV-1a, 64 bits.
uint64_t fnv1a(const void *data, size_t n, uint64_t h = 0xcbf29ce484222325ULL) {
  const auto *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < n; ++i)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}
std::string hex64(uint64_t v) { return llvm::formatv("{0:x-16}", v).str(); }
} // namespace

NamedShapes savedStateShapes(const ModelConfig &config, int64_t position) {
  NamedShapes shapes = programStates(config);
  if (config.arch == Arch::Transformer)
    for (auto &[name, shape] : shapes)
      shape[2] = position;
  return shapes;
}

Model::Model(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Model::~Model() = default;

const ModelConfig &Model::config() const { return impl->config; }
double Model::compileSeconds() const { return impl->compileSeconds; }
bool Model::programFromCache() const { return impl->jit->fromCache(); }
double Model::loadSeconds() const { return impl->loadSeconds; }

int64_t Model::position() const { return impl->position; }

size_t Model::weightBytes() const {
  size_t b = 0;
  for (const ArgTensor &t : impl->weights)
    b += t.sizeInBytes();
  return b;
}

size_t Model::stateBytes() const {
  size_t b = 0;
  for (const ArgTensor &t : impl->states)
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
  if (!model)
    return model;
  (*model)->impl->loadSeconds += readSeconds;
  // The file's identity (path, size, modification time) rather than a hash
  // of hundreds of megabytes of weights, and the weight precision (the
  // states a prompt leaves depend on it).
  llvm::SmallString<256> abs(path);
  llvm::sys::fs::make_absolute(abs);
  llvm::sys::fs::file_status st;
  std::string id = (*model)->impl->config.describe() + "\nweights " +
                   precisionName((*model)->impl->config.precision).str() +
                   "\n" + abs.str().str();
  if (!llvm::sys::fs::status(abs, st))
    id += llvm::formatv("\n{0}\n{1}", st.getSize(),
                        st.getLastModificationTime().time_since_epoch().count())
              .str();
  (*model)->impl->identity = hex64(fnv1a(id.data(), id.size()));
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
  impl->jitOptions = options;

  auto t0 = std::chrono::steady_clock::now();
  if (config->arch == Arch::GatedDeltaNet)
    fuseGatedDeltaNetWeights(*config, weights);
  // An int8 projection's row scales, filled with it, wait for their own
  // argument (the next one).
  std::map<std::string, OwnedTensor> scales;
  for (auto &[name, shape] : programWeights(*config)) {
    if (auto it = scales.find(name); it != scales.end()) {
      impl->weights.emplace_back(std::move(it->second));
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
    impl->weights.emplace_back(std::move(stacked));
  }
  weights.clear();
  std::string desc = config->describe();
  uint64_t h = fnv1a(desc.data(), desc.size());
  for (const ArgTensor &w : impl->weights)
    h = fnv1a(w.data(), w.sizeInBytes(), h);
  impl->identity = hex64(h);
  // The CUDA target keeps the weights and states on the device. Without a
  // driver they stay on the host: the program compiles, and its first call
  // reports the missing driver.
  if (options.target == Target::CUDA) {
    if (Error e = cuda::available())
      llvm::consumeError(std::move(e));
    else
      impl->resident = true;
  }
  if (impl->resident)
    for (ArgTensor &w : impl->weights)
      if (Error e = w.moveToDevice())
        return err("uploading the weights to the device: " +
                   llvm::toString(std::move(e)));
  for (auto &[name, shape] : programStates(*config)) {
    auto t = ArgTensor::zeros(shape, impl->resident);
    if (!t)
      return err("allocating the decoding states on the device: " +
                 llvm::toString(t.takeError()));
    impl->states.push_back(std::move(*t));
  }
  impl->loadSeconds = secondsSince(t0);

  t0 = std::chrono::steady_clock::now();
  auto jit = Jit::compile(
      programText(*config, !options.shardSequenceFunctions.empty()), options,
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
  return prefill(tokens, {}, {});
}

Expected<OwnedTensor> Model::prefill(llvm::ArrayRef<int64_t> tokens,
                                     llvm::ArrayRef<int64_t> savePositions,
                                     const StateSink &onState) {
  if (Error e = impl->checkTokens(tokens))
    return std::move(e);
  if (Error e = impl->checkContext(tokens.size()))
    return std::move(e);
  impl->primed = false;
  impl->position = 0;
  return extend(tokens, savePositions, onState);
}

Expected<OwnedTensor> Model::extend(llvm::ArrayRef<int64_t> tokens,
                                    llvm::ArrayRef<int64_t> savePositions,
                                    const StateSink &onState) {
  if (Error e = impl->checkTokens(tokens))
    return std::move(e);
  int64_t start = impl->primed ? impl->position : 0;
  int64_t end = start + int64_t(tokens.size());
  if (Error e = impl->checkContext(end))
    return std::move(e);
  // Split points strictly inside the tokens; the end is saved after the
  // last piece.
  std::vector<int64_t> cuts;
  bool saveEnd = false;
  for (int64_t p : savePositions) {
    if (p == end)
      saveEnd = true;
    else if (p > start && p < end)
      cuts.push_back(p);
  }
  llvm::sort(cuts);
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  cuts.push_back(end);
  int64_t at = start;
  Expected<OwnedTensor> logits = OwnedTensor();
  for (int64_t cut : cuts) {
    logits = impl->runPiece(tokens.slice(at - start, cut - at));
    if (!logits)
      return logits.takeError();
    at = cut;
    if ((cut != end || saveEnd) && onState) {
      auto state = saveState();
      if (!state)
        return state.takeError();
      if (Error e = onState(std::move(*state)))
        return std::move(e);
    }
  }
  return logits;
}

Expected<OwnedTensor> Model::prefillSlice(llvm::ArrayRef<int64_t> slice,
                                          int64_t promptLength) {
  if (impl->jitOptions.shardSequenceFunctions.empty())
    return err("prefillSlice needs a model loaded for a prefill across "
               "ranks (JitOptions::shardSequenceFunctions)");
  if (Error e = impl->checkTokens(slice))
    return std::move(e);
  impl->primed = false;
  impl->position = 0;
  if (impl->config.arch != Arch::Transformer) {
    auto logits = impl->runPiece(slice);
    if (!logits)
      return logits.takeError();
    impl->position = promptLength;
    return logits;
  }
  if (Error e = impl->checkContext(promptLength))
    return std::move(e);
  const int R = dist::size(), last = R - 1;
  int64_t begin = dist::sliceOf(promptLength, dist::rank(), R).first;
  Tensor tok{const_cast<int64_t *>(slice.data()), DType::I64,
             {int64_t(slice.size())}, {}};
  Tensor pos{&begin, DType::I64, {}, {}};
  auto logits = impl->callWithStates("prefill", {tok, pos});
  if (!logits)
    return logits.takeError();
  // Each rank wrote its keys and values to slots [0, L_r) of its caches
  // ([n_layer, Hk, C, d] each); the last rank collects them at the
  // slice's positions [begin_r, begin_r + L_r).
  auto rowsOf = [](const ArgTensor &t) {
    return t.shape()[0] * t.shape()[1];
  };
  std::vector<char> mine;
  for (const ArgTensor &st : impl->states) {
    int64_t C = st.shape()[2], d = st.shape()[3];
    for (int64_t r = 0; r < rowsOf(st); ++r) {
      const char *row = static_cast<const char *>(st.data()) +
                        r * C * d * sizeof(float);
      mine.insert(mine.end(), row, row + slice.size() * d * sizeof(float));
    }
  }
  auto all = dist::gatherBytes(mine, last);
  if (!all)
    return all.takeError();
  if (dist::rank() == last) {
    for (int j = 0; j < R; ++j) {
      auto [b, e] = dist::sliceOf(promptLength, j, R);
      const char *at = (*all)[j].data();
      size_t expected = 0;
      for (const ArgTensor &st : impl->states)
        expected += rowsOf(st) * (e - b) * st.shape()[3] * sizeof(float);
      if ((*all)[j].size() != expected)
        return err(llvm::formatv("rank {0} sent {1} bytes of keys and values "
                                 "for its {2} tokens; {3} expected",
                                 j, (*all)[j].size(), e - b, expected)
                       .str());
      for (ArgTensor &st : impl->states) {
        int64_t C = st.shape()[2], d = st.shape()[3];
        size_t n = (e - b) * d * sizeof(float);
        for (int64_t r = 0; r < rowsOf(st); ++r, at += n)
          std::memcpy(static_cast<char *>(st.data()) +
                          (r * C + b) * d * sizeof(float),
                      at, n);
      }
    }
  }
  impl->primed = true;
  impl->position = promptLength;
  impl->keepLogits(*logits);
  return logits;
}

Expected<SequenceState> Model::saveState() const {
  if (!impl->primed)
    return err("no state to save: run prefill first");
  SequenceState s;
  s.position = impl->position;
  NamedShapes shapes = savedStateShapes(impl->config, impl->position);
  for (size_t i = 0; i < shapes.size(); ++i) {
    OwnedTensor t(DType::F32, shapes[i].second);
    const ArgTensor &live = impl->states[i];
    if (impl->config.arch != Arch::Transformer) {
      std::memcpy(t.data(), live.data(), live.sizeInBytes());
    } else {
      // [NL, Hk, C, d] -> the first `position` slots of every row.
      int64_t rows = live.shape()[0] * live.shape()[1],
              C = live.shape()[2], d = live.shape()[3], P = impl->position;
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(t.as<float>() + r * P * d, live.as<float>() + r * C * d,
                    P * d * sizeof(float));
    }
    s.tensors.push_back(std::move(t));
  }
  s.logits = OwnedTensor(DType::F32, {impl->config.vocab});
  std::memcpy(s.logits.data(), impl->lastLogits.data(),
              s.logits.sizeInBytes());
  return std::move(s);
}

Error Model::restoreState(const SequenceState &s) {
  const ModelConfig &c = impl->config;
  if (Error e = impl->checkState(s))
    return e;
  NamedShapes shapes = savedStateShapes(c, s.position);
  for (size_t i = 0; i < shapes.size(); ++i) {
    ArgTensor &live = impl->states[i];
    if (c.arch != Arch::Transformer) {
      std::memcpy(live.data(), s.tensors[i].data(), live.sizeInBytes());
      continue;
    }
    int64_t rows = live.shape()[0] * live.shape()[1], C = live.shape()[2],
            d = live.shape()[3], P = s.position;
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(live.as<float>() + r * C * d,
                  s.tensors[i].as<float>() + r * P * d, P * d * sizeof(float));
  }
  impl->keepLogits(s.logits);
  impl->primed = true;
  impl->position = s.position;
  return Error::success();
}

const std::string &Model::identity() const { return impl->identity; }

Expected<OwnedTensor>
Model::prefillBatch(llvm::ArrayRef<std::vector<int64_t>> prompts) {
  std::vector<BatchSequence> seqs(prompts.size());
  for (size_t s = 0; s < prompts.size(); ++s)
    seqs[s].tokens = prompts[s];
  return prefillSequences(seqs);
}

Expected<OwnedTensor>
Model::prefillSequences(llvm::ArrayRef<BatchSequence> seqs) {
  if (seqs.empty())
    return err("prefillBatch needs at least one prompt");
  const bool transformer = impl->config.arch == Arch::Transformer;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const BatchSequence &q = seqs[s];
    Error e = impl->checkTokens(q.tokens);
    if (!e)
      e = impl->checkContext(q.tokens.size());
    if (!e && transformer && (q.start || !q.savePositions.empty()))
      e = err("a Transformer batch prefills every prompt from position 0: "
              "saved states (a state cache) need a recurrent model "
              "(Mamba-1, Mamba-2, Gated DeltaNet)");
    if (!e && q.start) {
      e = impl->checkState(*q.start);
      if (!e && q.start->position > int64_t(q.tokens.size()))
        e = err(llvm::formatv("its saved state holds {0} tokens, more than "
                              "the prompt's {1}",
                              q.start->position, q.tokens.size())
                    .str());
    }
    if (e)
      return err("prompt #" + std::to_string(s) + ": " +
                 llvm::toString(std::move(e)));
  }
  auto batch = impl->batchOf(seqs.size());
  if (!batch)
    return batch.takeError();
  Impl::Batch &b = **batch;
  impl->current = nullptr;
  const int64_t B = b.size;
  Expected<OwnedTensor> logits = OwnedTensor();
  if (transformer) {
    std::vector<int64_t> tokens, cu{0}, positions;
    for (const BatchSequence &q : seqs) {
      tokens.insert(tokens.end(), q.tokens.begin(), q.tokens.end());
      cu.push_back(tokens.size());
      for (size_t l = 0; l < q.tokens.size(); ++l)
        positions.push_back(l);
    }
    int64_t T = tokens.size();
    Tensor tok{tokens.data(), DType::I64, {T}, {}};
    Tensor cuT{cu.data(), DType::I64, {B + 1}, {}};
    // Cache rows are read only where written.
    Tensor pos{positions.data(), DType::I64, {T}, {}};
    logits = impl->callBatch(b, "prefill_batch", {tok, cuT, pos});
  } else {
    logits = impl->prefillRounds(b, seqs);
  }
  if (!logits)
    return logits.takeError();
  b.positions.assign(B, 0);
  for (int64_t s = 0; s < B; ++s)
    b.positions[s] = seqs[s].tokens.size();
  impl->current = &b;
  return logits;
}

Expected<OwnedTensor> Model::decodeBatch(llvm::ArrayRef<int64_t> tokens) {
  Impl::Batch *b = impl->current;
  if (!b)
    return err("decodeBatch before prefillBatch: prefill the prompts first");
  if (int64_t(tokens.size()) != b->size)
    return err(llvm::formatv("decodeBatch got {0} tokens for a batch of {1} "
                             "sequences",
                             tokens.size(), b->size)
                   .str());
  if (Error e = impl->checkTokens(tokens))
    return std::move(e);
  for (int64_t s = 0; s < b->size; ++s)
    if (Error e = impl->checkContext(b->positions[s] + 1))
      return err("sequence #" + std::to_string(s) + ": " +
                 llvm::toString(std::move(e)));
  std::vector<int64_t> ids(tokens.begin(), tokens.end());
  Tensor tok{ids.data(), DType::I64, {b->size}, {}};
  Expected<OwnedTensor> logits = OwnedTensor();
  if (impl->config.arch == Arch::Transformer) {
    Tensor pos{b->positions.data(), DType::I64, {b->size}, {}};
    logits = impl->callBatch(*b, "decode_batch", {tok, pos});
  } else {
    // One token per sequence: cu_seqlens = 0, 1, ..., B.
    std::vector<int64_t> cu(b->size + 1);
    std::iota(cu.begin(), cu.end(), 0);
    Tensor cuT{cu.data(), DType::I64, {b->size + 1}, {}};
    logits = impl->callBatch(*b, "extend_batch", {tok, cuT});
  }
  if (!logits)
    return logits.takeError();
  for (int64_t &p : b->positions)
    ++p;
  return logits;
}

Expected<std::vector<std::vector<int64_t>>>
Model::generateBatch(llvm::ArrayRef<std::vector<int64_t>> prompts,
                     int64_t newTokens, const SamplingOptions &sampling,
                     GenerationStats *stats) {
  std::vector<BatchSequence> seqs(prompts.size());
  for (size_t s = 0; s < prompts.size(); ++s)
    seqs[s].tokens = prompts[s];
  return generateSequences(seqs, newTokens, sampling, stats);
}

Expected<std::vector<std::vector<int64_t>>>
Model::generateSequences(llvm::ArrayRef<BatchSequence> seqs,
                         int64_t newTokens, const SamplingOptions &sampling,
                         GenerationStats *stats) {
  GenerationStats local;
  GenerationStats &st = stats ? *stats : local;
  st = GenerationStats();
  int64_t B = seqs.size();
  std::vector<std::vector<int64_t>> out(B);
  if (newTokens <= 0)
    return out;
  for (const BatchSequence &q : seqs)
    st.promptTokens += q.tokens.size() - (q.start ? q.start->position : 0);
  // The batched program compiles on first use: not prefill time.
  if (auto b = impl->batchOf(B); !b)
    return b.takeError();
  auto t0 = std::chrono::steady_clock::now();
  auto logits = prefillSequences(seqs);
  if (!logits)
    return logits.takeError();
  st.prefillSeconds = secondsSince(t0);
  st.compileSeconds = impl->compileSeconds + impl->current->compileSeconds;
  st.loadSeconds = impl->loadSeconds;
  std::vector<Sampler> samplers(B, Sampler(sampling));
  int64_t V = impl->config.vocab;
  std::vector<int64_t> next(B);
  for (int64_t s = 0; s < B; ++s) {
    next[s] = samplers[s].next(logits->as<float>() + s * V, V);
    out[s].push_back(next[s]);
  }
  t0 = std::chrono::steady_clock::now();
  for (int64_t step = 1; step < newTokens; ++step) {
    auto step_logits = decodeBatch(next);
    if (!step_logits)
      return step_logits.takeError();
    st.decodeSteps += B;
    for (int64_t s = 0; s < B; ++s) {
      next[s] = samplers[s].next(step_logits->as<float>() + s * V, V);
      out[s].push_back(next[s]);
    }
  }
  st.decodeSeconds = secondsSince(t0);
  st.newTokens = B * newTokens;
  return out;
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
  impl->keepLogits(*logits);
  return logits;
}

Expected<std::vector<int64_t>>
Model::generate(llvm::ArrayRef<int64_t> prompt, int64_t newTokens,
                const SamplingOptions &sampling, GenerationStats *stats,
                const std::function<void(int64_t)> &onToken) {
  GenerationStats local;
  GenerationStats &s = stats ? *stats : local;
  if (newTokens <= 0) {
    s = GenerationStats();
    return std::vector<int64_t>();
  }
  auto t0 = std::chrono::steady_clock::now();
  auto logits = prefill(prompt);
  if (!logits)
    return logits.takeError();
  double prefillSeconds = secondsSince(t0);
  auto out = generateFrom(*logits, newTokens, sampling, &s, onToken);
  s.promptTokens = prompt.size();
  s.prefillSeconds = prefillSeconds;
  return out;
}

Expected<std::vector<int64_t>>
Model::generateFrom(const OwnedTensor &logits, int64_t newTokens,
                    const SamplingOptions &sampling, GenerationStats *stats,
                    const std::function<void(int64_t)> &onToken) {
  GenerationStats local;
  GenerationStats &s = stats ? *stats : local;
  s = GenerationStats();
  s.compileSeconds = impl->compileSeconds;
  s.loadSeconds = impl->loadSeconds;
  Sampler sampler(sampling);
  std::vector<int64_t> out;
  if (newTokens <= 0)
    return out;
  if (logits.numel() != impl->config.vocab)
    return err(llvm::formatv("logits of {0} entries; the vocabulary has {1}",
                             logits.numel(), impl->config.vocab)
                   .str());
  int64_t tok = sampler.next(logits.as<float>(), impl->config.vocab);
  out.push_back(tok);
  if (onToken)
    onToken(tok);
  auto t0 = std::chrono::steady_clock::now();
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
