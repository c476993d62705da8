//===- TensorIO.cpp - .npy and .safetensors reading and writing -----------===//

#include "ssmc/TensorIO.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>
#include <limits>

using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace ssmc {

namespace {

Error fail(StringRef what, const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 what + ": " + msg);
}

/// numel * elementSize, or an error on a negative dim or overflow.
Expected<uint64_t> checkedBytes(StringRef what, llvm::ArrayRef<int64_t> shape,
                                size_t elementSize) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return fail(what, "negative dimension " + llvm::Twine(d));
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / 16 / uint64_t(d))
      return fail(what, "shape " + formatShape(shape) + " is too large");
    n *= uint64_t(d);
  }
  if (n > (uint64_t(1) << 40))
    return fail(what, "shape " + formatShape(shape) +
                          " is too large (more than 2^40 elements)");
  return n * elementSize;
}

Expected<std::unique_ptr<llvm::MemoryBuffer>> readFile(StringRef path) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                         /*RequiresNullTerminator=*/false);
  if (!buf)
    return fail(path, "cannot read: " + buf.getError().message());
  return std::move(*buf);
}

Error writeFile(StringRef path, StringRef bytes) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return fail(path, "cannot write: " + ec.message());
  os << bytes;
  os.close();
  if (os.has_error())
    return fail(path, "write failed: " + os.error().message());
  return Error::success();
}

// .npy descr <-> dtype
std::optional<DType> npyDType(StringRef descr) {
  if (descr.size() < 2)
    return std::nullopt;
  char order = descr[0];
  StringRef code = descr.drop_front();
  if (code == "b1" && (order == '|' || order == '<' || order == '='))
    return DType::I1;
  if ((code == "i1" || code == "u1") && (order == '|' || order == '<' || order == '='))
    return DType::I8;
  if (order != '<' && order != '=' && order != '|')
    return std::nullopt;
  if (code == "f2") return DType::F16;
  if (code == "f4") return DType::F32;
  if (code == "f8") return DType::F64;
  if (code == "i2") return DType::I16;
  if (code == "i4") return DType::I32;
  if (code == "i8") return DType::I64;
  return std::nullopt;
}

const char *npyDescr(DType t) {
  switch (t) {
  case DType::F16: return "<f2";
  case DType::F32: return "<f4";
  case DType::F64: return "<f8";
  case DType::I1: return "|b1";
  case DType::I8: return "|i1";
  case DType::I16: return "<i2";
  case DType::I32: return "<i4";
  case DType::I64: return "<i8";
  case DType::BF16: return nullptr;
  }
  return nullptr;
}

/// Value of `key` in a Python dict literal header: the text after "'key':"
/// up to the matching delimiter.
std::optional<StringRef> dictValue(StringRef header, StringRef key) {
  std::string pat = ("'" + key + "'").str();
  size_t at = header.find(pat);
  if (at == StringRef::npos)
    return std::nullopt;
  StringRef rest = header.drop_front(at + pat.size()).ltrim();
  if (!rest.consume_front(":"))
    return std::nullopt;
  rest = rest.ltrim();
  if (rest.starts_with("'")) {
    size_t end = rest.find('\'', 1);
    return end == StringRef::npos ? std::nullopt
                                  : std::optional<StringRef>(rest.slice(1, end));
  }
  if (rest.starts_with("(")) {
    size_t end = rest.find(')');
    return end == StringRef::npos ? std::nullopt
                                  : std::optional<StringRef>(rest.slice(1, end));
  }
  size_t end = rest.find_first_of(",}");
  return rest.slice(0, end).trim();
}

std::optional<std::string> safetensorsDType(DType t) {
  switch (t) {
  case DType::F16: return "F16";
  case DType::BF16: return "BF16";
  case DType::F32: return "F32";
  case DType::F64: return "F64";
  case DType::I1: return "BOOL";
  case DType::I8: return "I8";
  case DType::I16: return "I16";
  case DType::I32: return "I32";
  case DType::I64: return "I64";
  }
  return std::nullopt;
}

std::optional<DType> parseSafetensorsDType(StringRef s) {
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  if (s == "F32") return DType::F32;
  if (s == "F64") return DType::F64;
  if (s == "BOOL") return DType::I1;
  if (s == "I8" || s == "U8") return DType::I8;
  if (s == "I16") return DType::I16;
  if (s == "I32") return DType::I32;
  if (s == "I64") return DType::I64;
  return std::nullopt;
}

} // namespace

Expected<OwnedTensor> parseNpy(StringRef bytes, StringRef what) {
  if (bytes.size() < 10 || !bytes.starts_with("\x93NUMPY"))
    return fail(what, "not a .npy file (bad magic)");
  unsigned major = static_cast<uint8_t>(bytes[6]);
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = static_cast<uint8_t>(bytes[8]) |
                (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return fail(what, "truncated .npy header");
    headerLen = 0;
    for (int i = 0; i < 4; ++i)
      headerLen |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    headerStart = 12;
  } else {
    return fail(what, "unsupported .npy format version " + llvm::Twine(major));
  }
  if (headerStart + headerLen > bytes.size())
    return fail(what, "header length " + llvm::Twine(headerLen) +
                          " runs past the end of the file");
  StringRef header = bytes.substr(headerStart, headerLen);
  auto descr = dictValue(header, "descr");
  auto order = dictValue(header, "fortran_order");
  auto shapeText = dictValue(header, "shape");
  if (!descr || !order || !shapeText)
    return fail(what, "malformed .npy header: " + header.trim());
  std::optional<DType> dtype = npyDType(*descr);
  if (!dtype)
    return fail(what, "unsupported dtype '" + *descr +
                          "' (supported: little-endian f2, f4, f8, i1, i2, "
                          "i4, i8, u1, b1)");
  if (*order != "False")
    return fail(what, "Fortran-order arrays are not supported; save with "
                      "numpy.ascontiguousarray");
  std::vector<int64_t> shape;
  llvm::SmallVector<StringRef> parts;
  shapeText->split(parts, ',', -1, /*KeepEmpty=*/false);
  for (StringRef p : parts) {
    p = p.trim();
    if (p.empty())
      continue;
    int64_t d;
    if (p.getAsInteger(10, d))
      return fail(what, "malformed shape (" + *shapeText + ")");
    shape.push_back(d);
  }
  Expected<uint64_t> need = checkedBytes(what, shape, dtypeSize(*dtype));
  if (!need)
    return need.takeError();
  size_t dataStart = headerStart + headerLen;
  if (bytes.size() - dataStart < *need)
    return fail(what, "truncated: shape " + formatShape(shape) + " of " +
                          dtypeName(*dtype) + " needs " + llvm::Twine(*need) +
                          " bytes of data, the file has " +
                          llvm::Twine(bytes.size() - dataStart));
  OwnedTensor t(*dtype, shape);
  std::memcpy(t.data(), bytes.data() + dataStart, *need);
  return t;
}

Expected<OwnedTensor> readNpy(StringRef path) {
  auto buf = readFile(path);
  if (!buf)
    return buf.takeError();
  return parseNpy((*buf)->getBuffer(), path);
}

Error writeNpy(StringRef path, const Tensor &t) {
  const char *descr = npyDescr(t.dtype);
  if (!descr)
    return fail(path, "dtype " + dtypeName(t.dtype) +
                          " has no NumPy equivalent; use .safetensors");
  std::string header = "{'descr': '" + std::string(descr) +
                       "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape.size(); ++i)
    header += std::to_string(t.shape[i]) + (t.shape.size() == 1 ? "," : (i + 1 < t.shape.size() ? ", " : ""));
  header += "), }";
  // Pad so that the data starts on a 64-byte boundary, header ends in '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  size_t bytes = t.numel() * dtypeSize(t.dtype);
  std::string data(bytes, '\0');
  copyToContiguous(t, data.data());
  out += data;
  return writeFile(path, out);
}

Expected<std::map<std::string, OwnedTensor>> parseSafetensors(StringRef bytes,
                                                              StringRef what) {
  if (bytes.size() < 8)
    return fail(what, "not a .safetensors file (shorter than its 8-byte header size)");
  uint64_t headerLen = 0;
  for (int i = 0; i < 8; ++i)
    headerLen |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  if (headerLen > bytes.size() - 8)
    return fail(what, "header size " + llvm::Twine(headerLen) +
                          " runs past the end of the file (" +
                          llvm::Twine(bytes.size()) + " bytes)");
  StringRef header = bytes.substr(8, headerLen);
  StringRef data = bytes.drop_front(8 + headerLen);
  Expected<llvm::json::Value> json = llvm::json::parse(header);
  if (!json)
    return fail(what, "header is not valid JSON: " + llvm::toString(json.takeError()));
  const llvm::json::Object *obj = json->getAsObject();
  if (!obj)
    return fail(what, "header is not a JSON object");

  std::map<std::string, OwnedTensor> out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto &kv : *obj) {
    std::string name = kv.first.str();
    if (name == "__metadata__")
      continue;
    std::string where = (what + ": tensor '" + name + "'").str();
    const llvm::json::Object *info = kv.second.getAsObject();
    if (!info)
      return fail(where, "entry is not an object");
    std::optional<StringRef> dt = info->getString("dtype");
    const llvm::json::Array *shapeArr = info->getArray("shape");
    const llvm::json::Array *offs = info->getArray("data_offsets");
    if (!dt || !shapeArr || !offs || offs->size() != 2)
      return fail(where, "needs 'dtype', 'shape' and two 'data_offsets'");
    std::optional<DType> dtype = parseSafetensorsDType(*dt);
    if (!dtype)
      return fail(where, "unsupported dtype '" + *dt + "'");
    std::vector<int64_t> shape;
    for (const llvm::json::Value &d : *shapeArr) {
      std::optional<int64_t> v = d.getAsInteger();
      if (!v)
        return fail(where, "shape entries must be integers");
      shape.push_back(*v);
    }
    std::optional<int64_t> begin = (*offs)[0].getAsInteger(),
                           end = (*offs)[1].getAsInteger();
    if (!begin || !end || *begin < 0 || *end < *begin)
      return fail(where, "invalid data_offsets");
    if (uint64_t(*end) > data.size())
      return fail(where, "data_offsets [" + llvm::Twine(*begin) + ", " +
                             llvm::Twine(*end) + ") run past the data (" +
                             llvm::Twine(data.size()) + " bytes)");
    Expected<uint64_t> need = checkedBytes(where, shape, dtypeSize(*dtype));
    if (!need)
      return need.takeError();
    if (*need != uint64_t(*end - *begin))
      return fail(where, "shape " + formatShape(shape) + " of " +
                             dtypeName(*dtype) + " needs " + llvm::Twine(*need) +
                             " bytes, data_offsets give " +
                             llvm::Twine(*end - *begin));
    ranges.push_back({uint64_t(*begin), uint64_t(*end)});
    OwnedTensor t(*dtype, shape);
    std::memcpy(t.data(), data.data() + *begin, *need);
    out.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      return fail(what, "tensors overlap in the data section");
  return out;
}

Expected<std::map<std::string, OwnedTensor>> readSafetensors(StringRef path) {
  auto buf = readFile(path);
  if (!buf)
    return buf.takeError();
  return parseSafetensors((*buf)->getBuffer(), path);
}

Error writeSafetensors(StringRef path,
                       const std::vector<std::pair<std::string, Tensor>> &tensors) {
  llvm::json::Object header;
  uint64_t offset = 0;
  for (const auto &[name, t] : tensors) {
    uint64_t bytes = t.numel() * dtypeSize(t.dtype);
    llvm::json::Array shape;
    for (int64_t d : t.shape)
      shape.push_back(d);
    header[name] = llvm::json::Object{
        {"dtype", *safetensorsDType(t.dtype)},
        {"shape", std::move(shape)},
        {"data_offsets", llvm::json::Array{int64_t(offset), int64_t(offset + bytes)}}};
    offset += bytes;
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(header));
  os.flush();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((uint64_t(text.size()) >> (8 * i)) & 0xff);
  out += text;
  for (const auto &[name, t] : tensors) {
    std::string data(t.numel() * dtypeSize(t.dtype), '\0');
    copyToContiguous(t, data.data());
    out += data;
  }
  return writeFile(path, out);
}

Expected<OwnedTensor> readTensorSpec(StringRef spec) {
  // "file.safetensors:name" (a ':' after the extension) or a plain path.
  size_t ext = spec.find(".safetensors");
  if (ext != StringRef::npos) {
    StringRef path = spec.substr(0, ext + strlen(".safetensors"));
    StringRef rest = spec.drop_front(path.size());
    auto all = readSafetensors(path);
    if (!all)
      return all.takeError();
    if (rest.empty()) {
      if (all->size() != 1)
        return fail(path, "holds " + llvm::Twine(all->size()) +
                              " tensors; name one as " + path + ":NAME");
      return std::move(all->begin()->second);
    }
    if (!rest.consume_front(":"))
      return fail(spec, "expected FILE.safetensors:NAME");
    auto it = all->find(rest.str());
    if (it == all->end()) {
      std::string names;
      for (auto &kv : *all)
        names += (names.empty() ? "" : ", ") + kv.first;
      return fail(path, "no tensor named '" + rest + "' (it has: " + names + ")");
    }
    return std::move(it->second);
  }
  return readNpy(spec);
}

} // namespace ssmc
