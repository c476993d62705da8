//===- StateCache.cpp - sequence states on disk ---------------------------===//

#include "apps/lm/StateCache.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using llvm::Error;
using llvm::Expected;

namespace ssmc::models {

namespace {
constexpr char kMagic[8] = {'S', 'S', 'M', 'C', 'S', 'T', 'A', 'T'};

Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

uint64_t fnv1a(const void *data, size_t n,
               uint64_t h = 0xcbf29ce484222325ULL) {
  const auto *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < n; ++i)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}
std::string hex64(uint64_t v) { return llvm::formatv("{0:x-16}", v).str(); }

/// Hash of the model key and each prefix of `tokens`: result[p] is the hash
/// of the first p tokens (one pass over the prompt).
std::vector<uint64_t> prefixHashes(llvm::StringRef modelKey,
                                   llvm::ArrayRef<int64_t> tokens) {
  std::vector<uint64_t> h{fnv1a(modelKey.data(), modelKey.size())};
  for (int64_t t : tokens) {
    uint8_t bytes[8];
    llvm::support::endian::write64le(bytes, uint64_t(t));
    h.push_back(fnv1a(bytes, 8, h.back()));
  }
  return h;
}

std::string fileName(llvm::StringRef modelKey, uint64_t prefixHash) {
  return (modelKey.take_front(16) + "-" + hex64(prefixHash) + ".ssmstate")
      .str();
}

std::string shapeStr(llvm::ArrayRef<int64_t> v) {
  std::string r = "[";
  for (size_t i = 0; i < v.size(); ++i)
    r += (i ? ", " : "") + std::to_string(v[i]);
  return r + "]";
}
} // namespace

Error writeStateFile(llvm::StringRef path, const ModelConfig &config,
                     llvm::StringRef modelKey, llvm::ArrayRef<int64_t> tokens,
                     const SequenceState &state) {
  if (int64_t(tokens.size()) < state.position)
    return err(llvm::formatv("a state at position {0} needs {0} token ids; "
                             "{1} given",
                             state.position, tokens.size())
                   .str());
  NamedShapes shapes = savedStateShapes(config, state.position);
  if (shapes.size() != state.tensors.size())
    return err("the state does not belong to " + config.describe());
  uint64_t sum = 0xcbf29ce484222325ULL;
  size_t dataBytes = 0;
  llvm::json::Array tensors;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const OwnedTensor &t = state.tensors[i];
    if (t.dtype() != DType::F32 || t.shape() != shapes[i].second)
      return err("state tensor '" + shapes[i].first + "' has shape " +
                 shapeStr(t.shape()) + "; expected f32 " +
                 shapeStr(shapes[i].second));
    sum = fnv1a(t.data(), t.sizeInBytes(), sum);
    dataBytes += t.sizeInBytes();
    llvm::json::Array shape;
    for (int64_t d : t.shape())
      shape.push_back(d);
    tensors.push_back(llvm::json::Object{{"name", shapes[i].first},
                                         {"shape", std::move(shape)}});
  }
  if (state.logits.dtype() != DType::F32 ||
      state.logits.numel() != config.vocab)
    return err("the state's logits do not match the vocabulary of " +
               config.describe());
  sum = fnv1a(state.logits.data(), state.logits.sizeInBytes(), sum);
  dataBytes += state.logits.sizeInBytes();
  llvm::json::Array ids;
  for (int64_t t : tokens.take_front(state.position))
    ids.push_back(t);
  llvm::json::Object header{{"model", config.describe()},
                            {"model_key", modelKey},
                            {"position", state.position},
                            {"tokens", std::move(ids)},
                            {"tensors", std::move(tensors)},
                            {"vocab", config.vocab},
                            {"data_bytes", int64_t(dataBytes)},
                            {"checksum", hex64(sum)}};
  std::string headerText;
  llvm::raw_string_ostream(headerText) << llvm::json::Value(std::move(header));

  // A temporary file beside the target, renamed over it when complete.
  llvm::SmallString<256> tmp(path);
  tmp += llvm::formatv(".tmp{0}", llvm::sys::Process::getProcessId()).str();
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(tmp, ec);
    if (ec)
      return err("cannot write '" + tmp + "': " + ec.message());
    uint8_t word[4];
    os.write(kMagic, sizeof(kMagic));
    llvm::support::endian::write32le(word, kStateFileVersion);
    os.write(reinterpret_cast<const char *>(word), 4);
    llvm::support::endian::write32le(word, uint32_t(headerText.size()));
    os.write(reinterpret_cast<const char *>(word), 4);
    os << headerText;
    for (const OwnedTensor &t : state.tensors)
      os.write(static_cast<const char *>(t.data()), t.sizeInBytes());
    os.write(static_cast<const char *>(state.logits.data()),
             state.logits.sizeInBytes());
    os.close();
    if (os.has_error()) {
      std::string msg = os.error().message();
      os.clear_error();
      llvm::sys::fs::remove(tmp);
      return err("cannot write '" + tmp + "': " + msg);
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, path)) {
    llvm::sys::fs::remove(tmp);
    return err("cannot rename '" + tmp + "' to '" + path + "': " +
               ec.message());
  }
  return Error::success();
}

Expected<SequenceState> readStateFile(llvm::StringRef path,
                                      const ModelConfig &config,
                                      llvm::StringRef modelKey,
                                      std::vector<int64_t> *tokensOut) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                         /*RequiresNullTerminator=*/false);
  if (!buf)
    return err("cannot read state file '" + path +
               "': " + buf.getError().message());
  llvm::StringRef bytes = (*buf)->getBuffer();
  auto bad = [&](const llvm::Twine &why) {
    return err("state file '" + path + "': " + why);
  };
  if (bytes.size() < 16 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    return bad("not an ssmc state file (no SSMCSTAT signature)");
  uint32_t version = llvm::support::endian::read32le(bytes.data() + 8);
  if (version != kStateFileVersion)
    return bad(llvm::formatv("format version {0}; this ssmc reads version {1}",
                             version, kStateFileVersion));
  uint32_t headerLen = llvm::support::endian::read32le(bytes.data() + 12);
  if (bytes.size() - 16 < headerLen)
    return bad("truncated header");
  auto json = llvm::json::parse(bytes.substr(16, headerLen));
  if (!json)
    return bad("corrupt header: " + llvm::toString(json.takeError()));
  const llvm::json::Object *h = json->getAsObject();
  if (!h)
    return bad("corrupt header: not a JSON object");
  std::optional<llvm::StringRef> key = h->getString("model_key");
  std::optional<llvm::StringRef> model = h->getString("model");
  std::optional<int64_t> position = h->getInteger("position");
  std::optional<int64_t> vocab = h->getInteger("vocab");
  std::optional<int64_t> dataBytes = h->getInteger("data_bytes");
  std::optional<llvm::StringRef> checksum = h->getString("checksum");
  const llvm::json::Array *ids = h->getArray("tokens");
  const llvm::json::Array *tensors = h->getArray("tensors");
  if (!key || !model || !position || !vocab || !dataBytes || !checksum ||
      !ids || !tensors)
    return bad("corrupt header: a field is missing");
  if (*model != config.describe())
    return bad("saved for " + *model + ", not " + config.describe());
  if (*key != modelKey)
    return bad("saved for other weights (model key " + *key + ", this "
               "model's is " + modelKey + ")");
  if (*position <= 0 || int64_t(ids->size()) != *position)
    return bad(llvm::formatv("position {0} with {1} token ids", *position,
                             ids->size()));
  NamedShapes shapes = savedStateShapes(config, *position);
  if (tensors->size() != shapes.size())
    return bad(llvm::formatv("{0} tensors; the model has {1}", tensors->size(),
                             shapes.size()));
  SequenceState s;
  s.position = *position;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const llvm::json::Object *t = (*tensors)[i].getAsObject();
    const llvm::json::Array *shape = t ? t->getArray("shape") : nullptr;
    std::vector<int64_t> dims;
    for (const llvm::json::Value &d : shape ? *shape : llvm::json::Array())
      dims.push_back(d.getAsInteger().value_or(-1));
    if (!shape || dims != shapes[i].second)
      return bad("tensor '" + shapes[i].first + "' has shape " +
                 shapeStr(dims) + "; the model expects " +
                 shapeStr(shapes[i].second));
    s.tensors.emplace_back(DType::F32, shapes[i].second);
  }
  s.logits = OwnedTensor(DType::F32, {config.vocab});
  size_t expected = s.logits.sizeInBytes();
  for (const OwnedTensor &t : s.tensors)
    expected += t.sizeInBytes();
  if (*vocab != config.vocab || size_t(*dataBytes) != expected)
    return bad(llvm::formatv("header says {0} data bytes; the model's state "
                             "has {1}",
                             *dataBytes, expected));
  llvm::StringRef data = bytes.drop_front(16 + size_t(headerLen));
  if (data.size() != expected)
    return bad(llvm::formatv("{0} data bytes; the header says {1} (truncated "
                             "or overwritten file)",
                             data.size(), expected));
  if (hex64(fnv1a(data.data(), data.size())) != *checksum)
    return bad("checksum mismatch: the data is corrupt");
  const char *p = data.data();
  for (OwnedTensor &t : s.tensors) {
    std::memcpy(t.data(), p, t.sizeInBytes());
    p += t.sizeInBytes();
  }
  std::memcpy(s.logits.data(), p, s.logits.sizeInBytes());
  if (tokensOut) {
    tokensOut->clear();
    for (const llvm::json::Value &v : *ids) {
      std::optional<int64_t> id = v.getAsInteger();
      if (!id)
        return bad("corrupt header: a token id is not an integer");
      tokensOut->push_back(*id);
    }
  }
  return std::move(s);
}

StateCache::StateCache(std::string dir, ModelConfig config,
                       std::string modelKey)
    : dir(std::move(dir)), modelKey(std::move(modelKey)),
      config(std::move(config)) {}

std::string StateCache::pathFor(llvm::ArrayRef<int64_t> prefix) const {
  llvm::SmallString<256> p(dir);
  llvm::sys::path::append(p,
                          fileName(modelKey, prefixHashes(modelKey, prefix)
                                                 .back()));
  return p.str().str();
}

std::optional<StateCache::Hit>
StateCache::lookup(llvm::ArrayRef<int64_t> tokens,
                   const std::function<void(Error)> &onBadFile) const {
  std::vector<uint64_t> hashes = prefixHashes(modelKey, tokens);
  for (int64_t p = tokens.size(); p >= 1; --p) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, fileName(modelKey, hashes[p]));
    if (!llvm::sys::fs::exists(path))
      continue;
    std::vector<int64_t> ids;
    auto state = readStateFile(path, config, modelKey, &ids);
    if (state && llvm::ArrayRef<int64_t>(ids) != tokens.take_front(p))
      state = err("state file '" + path + "' holds another token prefix "
                  "(a hash collision)");
    if (!state) {
      if (onBadFile)
        onBadFile(state.takeError());
      else
        llvm::consumeError(state.takeError());
      continue;
    }
    return Hit{std::move(*state), path.str().str()};
  }
  return std::nullopt;
}

Error StateCache::store(llvm::ArrayRef<int64_t> tokens,
                        const SequenceState &state) const {
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return err("cannot create the state cache folder '" + dir +
               "': " + ec.message());
  return writeStateFile(pathFor(tokens.take_front(state.position)), config,
                        modelKey, tokens, state);
}

Model::StateSink StateCache::sink(std::vector<int64_t> tokens) const {
  return [this, tokens = std::move(tokens)](SequenceState s) {
    return store(tokens, s);
  };
}

} // namespace ssmc::models
