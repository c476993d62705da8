//===- Tokenizer.cpp - byte-level BPE from a tokenizer.json ---------------===//
//
// GPT-2's byte-level BPE as Hugging Face `tokenizers` runs it: added tokens
// split the raw text; each remaining piece is pre-tokenised with GPT-2's
// pattern, its bytes mapped to printable characters, and merged pair by
// pair in merge-rank order.
//
//===----------------------------------------------------------------------===//

#include "apps/lm/Tokenizer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <array>
#include <clocale>
#include <cwctype>
#include <limits>
#include <locale.h>

using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace ssmc::models {
namespace {

Error fail(StringRef name, const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 (name + ": " + msg).str());
}

void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

/// Length of the UTF-8 character at s[i] and its code point; an invalid or
/// truncated sequence is one byte standing for U+FFFD (a symbol that is
/// neither letter, number nor space, as the pattern sees it).
size_t decodeUtf8(StringRef s, size_t i, uint32_t &cp) {
  unsigned char c = s[i];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
                          : (c >> 3) == 30 ? 4 : 0;
  if (n == 1) {
    cp = c;
    return 1;
  }
  if (n == 0 || i + n > s.size()) {
    cp = 0xFFFD;
    return 1;
  }
  uint32_t v = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    unsigned char d = s[i + k];
    if ((d >> 6) != 2) {
      cp = 0xFFFD;
      return 1;
    }
    v = (v << 6) | (d & 0x3F);
  }
  static const uint32_t minimum[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < minimum[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
    cp = 0xFFFD;
    return 1;
  }
  cp = v;
  return n;
}

/// GPT-2's printable stand-ins for the 256 bytes: the printable Latin-1
/// bytes stand for themselves, the others for U+0100 onwards, in order.
struct ByteMap {
  std::array<std::string, 256> text;
  std::unordered_map<uint32_t, unsigned char> byteOf;
  ByteMap() {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
                       (b >= 174 && b <= 255);
      uint32_t cp = printable ? b : next++;
      appendUtf8(text[b], cp);
      byteOf[cp] = static_cast<unsigned char>(b);
    }
  }
};
const ByteMap &byteMap() {
  static const ByteMap map;
  return map;
}

/// Unicode's White_Space property (what \s matches in the pattern).
bool isSpace(uint32_t cp) {
  switch (cp) {
  case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20:
  case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
  case 0x202F: case 0x205F: case 0x3000:
    return true;
  default:
    return cp >= 0x2000 && cp <= 0x200A;
  }
}

/// glibc's Unicode character classes (C.UTF-8), for \p{L} and \p{N}
/// outside ASCII.
locale_t unicodeLocale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
  return loc;
}

bool isLetter(uint32_t cp) {
  if (cp < 0x80)
    return llvm::isAlpha(char(cp));
  if (cp == 0xFFFD || isSpace(cp))
    return false;
  locale_t loc = unicodeLocale();
  // Without the locale, every other non-ASCII character counts as a
  // letter: words of any script stay whole.
  return loc ? iswalpha_l(wint_t(cp), loc) != 0 : true;
}

bool isNumber(uint32_t cp) {
  if (cp < 0x80)
    return llvm::isDigit(char(cp));
  locale_t loc = unicodeLocale();
  return loc && iswalnum_l(wint_t(cp), loc) && !iswalpha_l(wint_t(cp), loc);
}

/// GPT-2's pre-tokenizer pattern,
///   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
/// as a scanner: the byte ranges of `text`'s pieces, in order.
std::vector<std::pair<size_t, size_t>> preTokenize(StringRef text) {
  // Code points with their byte offsets (one past the end too).
  std::vector<uint32_t> cps;
  std::vector<size_t> at;
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    size_t n = decodeUtf8(text, i, cp);
    cps.push_back(cp);
    at.push_back(i);
    i += n;
  }
  at.push_back(text.size());
  size_t n = cps.size();
  enum Kind { Letter, Number, Other, Space };
  auto kind = [&](size_t i) {
    uint32_t cp = cps[i];
    return isSpace(cp) ? Space : isLetter(cp) ? Letter
                         : isNumber(cp)       ? Number
                                              : Other;
  };
  std::vector<std::pair<size_t, size_t>> pieces;
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    // Contractions: 's 't 'm 'd 're 've 'll (lower case, as GPT-2).
    if (cps[i] == '\'' && i + 1 < n) {
      uint32_t a = cps[i + 1], b = i + 2 < n ? cps[i + 2] : 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd')
        end = i + 2;
      else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') ||
               (a == 'l' && b == 'l'))
        end = i + 3;
    }
    if (end == i) {
      // An optional space, then a run of one class.
      size_t start = cps[i] == ' ' && i + 1 < n && kind(i + 1) != Space
                         ? i + 1
                         : i;
      Kind k = kind(start);
      if (k != Space) {
        end = start + 1;
        while (end < n && kind(end) == k)
          ++end;
      } else {
        // \s+(?!\S): the whitespace run, less its last character when a
        // non-space follows (that one starts the next piece); \s+ when the
        // run is a single character.
        end = i + 1;
        while (end < n && kind(end) == Space)
          ++end;
        if (end < n && end - i > 1)
          --end;
      }
    }
    pieces.push_back({at[i], at[end]});
    i = end;
  }
  return pieces;
}

bool isWordByte(char c) { return llvm::isAlnum(c) || c == '_'; }

} // namespace

Expected<std::unique_ptr<Tokenizer>> Tokenizer::load(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return fail(path, "cannot read: " + buffer.getError().message());
  return parse((*buffer)->getBuffer(), path);
}

Expected<std::unique_ptr<Tokenizer>> Tokenizer::parse(StringRef json,
                                                      StringRef name) {
  Expected<llvm::json::Value> root = llvm::json::parse(json);
  if (!root)
    return fail(name, "not JSON: " + llvm::toString(root.takeError()));
  const llvm::json::Object *top = root->getAsObject();
  if (!top)
    return fail(name, "not a tokenizer.json (the top level is not an object)");
  const llvm::json::Object *model = top->getObject("model");
  if (!model)
    return fail(name, "no 'model': not a Hugging Face tokenizer.json");
  std::unique_ptr<Tokenizer> t(new Tokenizer());

  // normalizer: none, or NFC (see the header for what that means here).
  if (const llvm::json::Value *n = top->get("normalizer");
      n && n->kind() != llvm::json::Value::Null) {
    const llvm::json::Object *o = n->getAsObject();
    std::optional<StringRef> type = o ? o->getString("type") : std::nullopt;
    if (!type || *type != "NFC")
      return fail(name, "normalizer '" + (type ? *type : "?") +
                            "' is not supported (only none or NFC)");
  }
  // pre_tokenizer: ByteLevel, alone or the only step of a Sequence.
  const llvm::json::Object *pre = top->getObject("pre_tokenizer");
  if (pre && pre->getString("type") == StringRef("Sequence")) {
    const llvm::json::Array *steps = pre->getArray("pretokenizers");
    pre = steps && steps->size() == 1 ? (*steps)[0].getAsObject() : nullptr;
    if (!pre)
      return fail(name, "pre_tokenizer: a Sequence other than one ByteLevel "
                        "step is not supported");
  }
  if (!pre || pre->getString("type") != StringRef("ByteLevel"))
    return fail(name, "pre_tokenizer must be ByteLevel (byte-level BPE, as "
                      "GPT-2 and GPT-NeoX)");
  if (pre->getBoolean("use_regex") == std::optional<bool>(false))
    return fail(name, "pre_tokenizer: ByteLevel without use_regex is not "
                      "supported");
  t->addPrefixSpace = pre->getBoolean("add_prefix_space").value_or(false);
  if (const llvm::json::Object *dec = top->getObject("decoder"))
    if (dec->getString("type") != StringRef("ByteLevel"))
      return fail(name, "decoder '" +
                            dec->getString("type").value_or("?") +
                            "' is not supported (only ByteLevel)");

  if (auto type = model->getString("type"); type && *type != "BPE")
    return fail(name, "model type '" + *type + "' is not supported (BPE)");
  const llvm::json::Object *vocab = model->getObject("vocab");
  if (!vocab)
    return fail(name, "model.vocab is missing or not an object");
  auto addPiece = [&](const std::string &text, int64_t id) -> Error {
    if (id < 0 || id > (int64_t(1) << 24))
      return fail(name, "token '" + text + "' has id " + llvm::Twine(id) +
                            " (ids must be 0 to 2^24)");
    if (size_t(id) >= t->pieces.size()) {
      t->pieces.resize(id + 1);
      t->isAdded.resize(id + 1, false);
    }
    t->pieces[id] = text;
    t->vocab[text] = id;
    return Error::success();
  };
  for (const auto &kv : *vocab) {
    std::optional<int64_t> id = kv.second.getAsInteger();
    if (!id)
      return fail(name, "model.vocab['" + kv.first.str() +
                            "'] is not an integer id");
    if (Error e = addPiece(kv.first.str(), *id))
      return std::move(e);
  }
  const llvm::json::Array *merges = model->getArray("merges");
  if (!merges)
    return fail(name, "model.merges is missing");
  for (size_t r = 0; r < merges->size(); ++r) {
    const llvm::json::Value &m = (*merges)[r];
    std::string left, right;
    if (std::optional<StringRef> s = m.getAsString()) {
      auto [a, b] = s->split(' ');
      left = a.str();
      right = b.str();
    } else if (const llvm::json::Array *pair = m.getAsArray();
               pair && pair->size() == 2 && (*pair)[0].getAsString() &&
               (*pair)[1].getAsString()) {
      left = (*pair)[0].getAsString()->str();
      right = (*pair)[1].getAsString()->str();
    }
    if (left.empty() || right.empty())
      return fail(name, "model.merges[" + llvm::Twine(r) +
                            "] is not a pair of tokens");
    t->ranks.emplace(left + '\x01' + right, int64_t(r));
  }
  // A byte-level vocabulary spells every byte, except perhaps the 13 that
  // valid UTF-8 never holds (GPT-NeoX's lacks them): those encode as
  // `unk_token` if there is one, else are dropped, as `tokenizers` does.
  unsigned missing = 0;
  for (const std::string &b : byteMap().text)
    missing += !t->vocab.count(b);
  if (missing > 13)
    return fail(name, "model.vocab lacks " + llvm::Twine(missing) +
                          " of the 256 byte tokens: not a byte-level "
                          "vocabulary");
  if (std::optional<StringRef> unk = model->getString("unk_token"))
    t->unknown = t->tokenId(*unk);

  if (const llvm::json::Array *list = top->getArray("added_tokens")) {
    for (const llvm::json::Value &v : *list) {
      const llvm::json::Object *o = v.getAsObject();
      std::optional<int64_t> id = o ? o->getInteger("id") : std::nullopt;
      std::optional<StringRef> content =
          o ? o->getString("content") : std::nullopt;
      if (!id || !content || content->empty())
        return fail(name, "added_tokens: an entry without id or content");
      if (Error e = addPiece(content->str(), *id))
        return std::move(e);
      t->isAdded[*id] = true;
      t->added.push_back({content->str(), *id,
                          o->getBoolean("lstrip").value_or(false),
                          o->getBoolean("rstrip").value_or(false),
                          o->getBoolean("single_word").value_or(false)});
    }
  }
  std::stable_sort(t->added.begin(), t->added.end(),
                   [](const Added &a, const Added &b) {
                     return a.content.size() > b.content.size();
                   });
  return std::move(t);
}

int64_t Tokenizer::tokenId(StringRef token) const {
  auto it = vocab.find(token.str());
  return it == vocab.end() ? -1 : it->second;
}

void Tokenizer::encodeWord(StringRef word, std::vector<int64_t> &out) const {
  {
    std::lock_guard<std::mutex> lock(cacheMutex);
    auto it = wordCache.find(word.str());
    if (it != wordCache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const ByteMap &map = byteMap();
  std::vector<std::string> symbols;
  for (char c : word)
    symbols.push_back(map.text[static_cast<unsigned char>(c)]);
  // Merge the adjacent pair of lowest rank, leftmost first, until none has
  // a rank (what `tokenizers` and GPT-2's bpe() both compute).
  std::string key;
  while (symbols.size() > 1) {
    int64_t best = std::numeric_limits<int64_t>::max();
    size_t at = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      key = symbols[i] + '\x01' + symbols[i + 1];
      auto it = ranks.find(key);
      if (it != ranks.end() && it->second < best) {
        best = it->second;
        at = i;
      }
    }
    if (best == std::numeric_limits<int64_t>::max())
      break;
    symbols[at] += symbols[at + 1];
    symbols.erase(symbols.begin() + at + 1);
  }
  std::vector<int64_t> ids;
  for (const std::string &s : symbols) {
    auto it = vocab.find(s);
    if (it != vocab.end()) {
      ids.push_back(it->second);
      continue;
    }
    // A merge whose result the vocabulary lacks: spell it byte by byte;
    // a byte without a token is unk_token, or dropped.
    for (size_t i = 0; i < s.size();) {
      uint32_t cp;
      i += decodeUtf8(s, i, cp);
      auto byte = vocab.find(map.text[map.byteOf.at(cp)]);
      if (byte != vocab.end())
        ids.push_back(byte->second);
      else if (unknown >= 0)
        ids.push_back(unknown);
    }
  }
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cacheMutex);
  if (wordCache.size() < 100000)
    wordCache.emplace(word.str(), std::move(ids));
}

void Tokenizer::encodePlain(StringRef text, std::vector<int64_t> &out) const {
  if (text.empty())
    return;
  std::string prefixed;
  if (addPrefixSpace && text.front() != ' ') {
    prefixed = " " + text.str();
    text = prefixed;
  }
  for (auto [begin, end] : preTokenize(text))
    encodeWord(text.slice(begin, end), out);
}

std::vector<int64_t> Tokenizer::encode(StringRef text) const {
  std::vector<int64_t> out;
  size_t plainStart = 0, i = 0;
  while (i < text.size()) {
    const Added *hit = nullptr;
    for (const Added &a : added) {
      if (!text.substr(i).starts_with(a.content))
        continue;
      if (a.singleWord) {
        size_t after = i + a.content.size();
        if ((i > 0 && isWordByte(text[i - 1])) ||
            (after < text.size() && isWordByte(text[after])))
          continue;
      }
      hit = &a;
      break;
    }
    if (!hit) {
      ++i;
      continue;
    }
    size_t before = i, after = i + hit->content.size();
    if (hit->lstrip)
      while (before > plainStart && llvm::isSpace(text[before - 1]))
        --before;
    if (hit->rstrip)
      while (after < text.size() && llvm::isSpace(text[after]))
        ++after;
    encodePlain(text.slice(plainStart, before), out);
    out.push_back(hit->id);
    plainStart = i = after;
  }
  encodePlain(text.slice(plainStart, text.size()), out);
  return out;
}

std::string Tokenizer::bytesOf(int64_t id) const {
  if (id < 0 || size_t(id) >= pieces.size() ||
      (pieces[id].empty() && !isAdded[id]))
    return "\xEF\xBF\xBD"; // U+FFFD
  const std::string &piece = pieces[id];
  if (isAdded[id])
    return piece;
  const ByteMap &map = byteMap();
  std::string bytes;
  for (size_t i = 0; i < piece.size();) {
    uint32_t cp;
    i += decodeUtf8(piece, i, cp);
    auto it = map.byteOf.find(cp);
    if (it == map.byteOf.end())
      appendUtf8(bytes, cp); // not a byte-level character: as written
    else
      bytes += char(it->second);
  }
  return bytes;
}

std::string Tokenizer::decode(llvm::ArrayRef<int64_t> ids) const {
  std::string text;
  for (int64_t id : ids)
    text += bytesOf(id);
  return text;
}

std::string Tokenizer::Stream::push(int64_t id) {
  pending += tok.bytesOf(id);
  // Hold back a UTF-8 character that the next token may complete.
  size_t complete = pending.size();
  for (size_t back = 1; back <= 3 && back <= pending.size(); ++back) {
    unsigned char c = pending[pending.size() - back];
    if ((c >> 6) == 2)
      continue; // a continuation byte: look further back
    size_t need = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
                             : (c >> 3) == 30 ? 4 : 1;
    if (need > back)
      complete = pending.size() - back;
    break;
  }
  std::string out = pending.substr(0, complete);
  pending.erase(0, complete);
  return out;
}

std::string Tokenizer::Stream::finish() {
  std::string out;
  out.swap(pending);
  return out;
}

} // namespace ssmc::models
