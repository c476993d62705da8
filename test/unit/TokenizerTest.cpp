//===- TokenizerTest.cpp - byte-level BPE against hand-worked ids ---------===//
//
// Each test writes a tokenizer.json with a vocabulary and merges small
// enough to work the expected ids out by hand (in the comments), chosen so
// that a wrong pre-tokenisation, merge order or byte mapping changes them.
//
//===----------------------------------------------------------------------===//

#include "apps/lm/Tokenizer.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <random>

using ssmc::models::Tokenizer;

namespace {

/// GPT-2's printable stand-in of byte b, written out independently of the
/// tokenizer: printable Latin-1 bytes are themselves, the 68 others U+0100
/// onwards in byte order.
std::string byteText(unsigned b) {
  static std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    unsigned next = 256;
    for (unsigned c = 0; c < 256; ++c) {
      bool printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) ||
                       (c >= 174 && c <= 255);
      unsigned cp = printable ? c : next++;
      std::string s;
      if (cp < 0x80)
        s += char(cp);
      else {
        s += char(0xC0 | (cp >> 6));
        s += char(0x80 | (cp & 0x3F));
      }
      t[c] = s;
    }
    return t;
  }();
  return table[b];
}

/// Byte b is token id b; merges get ids 256, 257, ... in order; added
/// tokens follow.
struct Spec {
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<llvm::json::Object> added;
  llvm::json::Value preTokenizer = llvm::json::Object{
      {"type", "ByteLevel"}, {"add_prefix_space", false},
      {"trim_offsets", true}, {"use_regex", true}};
  llvm::json::Value normalizer = nullptr;
  bool mergesAsPairs = false;

  std::string json() const {
    llvm::json::Object vocab;
    for (unsigned b = 0; b < 256; ++b)
      vocab[byteText(b)] = int64_t(b);
    llvm::json::Array merged;
    int64_t id = 256;
    for (auto &[a, b] : merges) {
      vocab[a + b] = id++;
      if (mergesAsPairs)
        merged.push_back(llvm::json::Array{a, b});
      else
        merged.push_back(a + " " + b);
    }
    llvm::json::Array addedTokens;
    for (const llvm::json::Object &o : added)
      addedTokens.push_back(llvm::json::Object(o));
    llvm::json::Object root{
        {"version", "1.0"},
        {"added_tokens", std::move(addedTokens)},
        {"normalizer", llvm::json::Value(normalizer)},
        {"pre_tokenizer", llvm::json::Value(preTokenizer)},
        {"post_processor", llvm::json::Object{{"type", "ByteLevel"}}},
        {"decoder", llvm::json::Object{{"type", "ByteLevel"}}},
        {"model", llvm::json::Object{{"type", "BPE"},
                                     {"vocab", std::move(vocab)},
                                     {"merges", std::move(merged)}}}};
    std::string out;
    llvm::raw_string_ostream os(out);
    os << llvm::json::Value(std::move(root));
    return out;
  }
};

std::unique_ptr<Tokenizer> make(const Spec &spec) {
  auto t = Tokenizer::parse(spec.json());
  EXPECT_TRUE(static_cast<bool>(t)) << llvm::toString(t.takeError());
  return t ? std::move(*t) : nullptr;
}

std::vector<int64_t> bytes(llvm::StringRef s) {
  std::vector<int64_t> v;
  for (char c : s)
    v.push_back(static_cast<unsigned char>(c));
  return v;
}

const std::string G = byteText(' '); // "Ġ"

TEST(Tokenizer, MergesApplyInRankOrderWithinAWord) {
  Spec s;
  // 256: "Ġt", 257: "he", 258: "Ġthe", 259: "th" (ranked after "he").
  s.merges = {{G, "t"}, {"h", "e"}, {G + "t", "he"}, {"t", "h"}};
  auto t = make(s);
  ASSERT_TRUE(t);
  // " the": Ġ t h e -> (Ġt) h e -> Ġt (he) -> (Ġthe).
  EXPECT_EQ(t->encode(" the"), std::vector<int64_t>{258});
  // "the" (no space): t h e -> t (he) [rank 1 before "th" at rank 3]; then
  // "t he" has no merge.
  EXPECT_EQ(t->encode("the"), (std::vector<int64_t>{'t', 257}));
  // "thx": only "th" applies.
  EXPECT_EQ(t->encode("thx"), (std::vector<int64_t>{259, 'x'}));
  EXPECT_EQ(t->decode({258, 259, 'x'}), " thethx");
  // Merges written as [a, b] pairs (newer tokenizer.json files) are the
  // same merges.
  s.mergesAsPairs = true;
  auto pairs = make(s);
  ASSERT_TRUE(pairs);
  EXPECT_EQ(pairs->encode(" the the"), (std::vector<int64_t>{258, 258}));
}

TEST(Tokenizer, ThePatternKeepsMergesInsidePieces) {
  Spec s;
  // Merges that would only fire across piece boundaries: "aĠ" (a word and
  // the next word's space), "t'" (a contraction), "c1" (letters then
  // digits), "ĠĠ" (two spaces).
  s.merges = {{"a", G}, {"t", "'"}, {"c", "1"}, {G, G}};
  auto t = make(s);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("a b"), (std::vector<int64_t>{'a', ' ', 'b'}));
  EXPECT_EQ(t->encode("it's"), (std::vector<int64_t>{'i', 't', '\'', 's'}));
  EXPECT_EQ(t->encode("abc123"), bytes("abc123"));
  // "x   y": pieces "x", "  " (the run less its last space), " y".
  EXPECT_EQ(t->encode("x   y"), (std::vector<int64_t>{'x', 259, ' ', 'y'}));
  // Trailing whitespace stays one piece: "x" + "   " -> ĠĠ then Ġ.
  EXPECT_EQ(t->encode("x   "), (std::vector<int64_t>{'x', 259, ' '}));
  // A newline before a word is its own piece (only ' ' joins the word).
  EXPECT_EQ(t->encode("\n\nab"), (std::vector<int64_t>{'\n', '\n', 'a', 'b'}));
}

TEST(Tokenizer, NonAsciiLettersStayInTheirWord) {
  Spec s;
  // é is bytes C3 A9: merge their stand-ins, then "n" with the result.
  std::string e = byteText(0xC3) + byteText(0xA9);
  s.merges = {{byteText(0xC3), byteText(0xA9)}, {"n", e}, {"9", e}};
  auto t = make(s);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("n\xC3\xA9"), std::vector<int64_t>{257});
  // A digit and a letter are different pieces: "9é" does not merge.
  EXPECT_EQ(t->encode("9\xC3\xA9"), (std::vector<int64_t>{'9', 256}));
  EXPECT_EQ(t->decode({257}), "n\xC3\xA9");
}

TEST(Tokenizer, AddedTokensSplitTheTextFirst) {
  Spec s;
  s.merges = {{"h", "i"}};
  s.added.push_back(llvm::json::Object{{"id", 300}, {"content", "<|endoftext|>"},
                     {"special", true}});
  s.added.push_back(llvm::json::Object{{"id", 301}, {"content", "<sep>"}, {"lstrip", true},
                     {"rstrip", true}});
  auto t = make(s);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("hi<|endoftext|>hi"),
            (std::vector<int64_t>{256, 300, 256}));
  // lstrip/rstrip: the spaces around <sep> belong to it.
  EXPECT_EQ(t->encode("hi  <sep> hi"), (std::vector<int64_t>{256, 301, 256}));
  EXPECT_EQ(t->decode({256, 300}), "hi<|endoftext|>");
  EXPECT_EQ(t->tokenId("<|endoftext|>"), 300);
  EXPECT_EQ(t->vocabSize(), 302);
}

TEST(Tokenizer, PrefixSpaceAndUnknownIds) {
  Spec s;
  s.merges = {{G, "h"}};
  s.preTokenizer = llvm::json::Object{
      {"type", "Sequence"},
      {"pretokenizers",
       llvm::json::Array{llvm::json::Object{{"type", "ByteLevel"},
                                            {"add_prefix_space", true}}}}};
  auto t = make(s);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("h"), std::vector<int64_t>{256});
  EXPECT_EQ(t->decode({999, 'a'}), "\xEF\xBF\xBD" "a");
}

TEST(Tokenizer, EveryByteStringRoundTrips) {
  Spec s;
  s.merges = {{G, "t"}, {"h", "e"}, {G + "t", "he"}, {"a", "n"}};
  s.added.push_back(llvm::json::Object{{"id", 400}, {"content", "<|x|>"}});
  auto t = make(s);
  ASSERT_TRUE(t);
  std::mt19937 rng(7);
  const char *words[] = {" the", "an", "<|x|>", " ", "\n", "'s", "12",
                         "\xC3\xA9", "\xE2\x82\xAC", "\xFF", "\xC3"};
  for (int round = 0; round < 500; ++round) {
    std::string text;
    int n = rng() % 12;
    for (int i = 0; i < n; ++i) {
      if (rng() % 3 == 0)
        text += char(rng() % 256); // any byte, valid UTF-8 or not
      else
        text += words[rng() % (sizeof(words) / sizeof(*words))];
    }
    std::vector<int64_t> ids = t->encode(text);
    ASSERT_EQ(t->decode(ids), text) << "round " << round;
    // Streaming gives the same bytes, and never half a character while
    // more may come.
    Tokenizer::Stream stream(*t);
    std::string streamed;
    for (int64_t id : ids)
      streamed += stream.push(id);
    streamed += stream.finish();
    ASSERT_EQ(streamed, text);
  }
  Tokenizer::Stream stream(*t);
  EXPECT_EQ(stream.push(0xE2), "");
  EXPECT_EQ(stream.push(0x82), "");
  EXPECT_EQ(stream.push(0xAC), "\xE2\x82\xAC");
  EXPECT_EQ(stream.push('a'), "a");
}

TEST(Tokenizer, UnsupportedFilesAreErrorsNamingTheField) {
  auto error = [](const std::string &json) {
    auto t = Tokenizer::parse(json, "tok.json");
    return t ? std::string("loaded") : llvm::toString(t.takeError());
  };
  EXPECT_NE(error("{").find("tok.json: not JSON"), std::string::npos);
  Spec s;
  s.normalizer = llvm::json::Object{{"type", "Lowercase"}};
  EXPECT_NE(error(s.json()).find("normalizer 'Lowercase' is not supported"),
            std::string::npos);
  s.normalizer = llvm::json::Object{{"type", "NFC"}};
  EXPECT_EQ(error(s.json()), "loaded");
  s.preTokenizer = llvm::json::Object{{"type", "Whitespace"}};
  EXPECT_NE(error(s.json()).find("pre_tokenizer must be ByteLevel"),
            std::string::npos);
  EXPECT_NE(error(R"({"model": {"type": "BPE", "vocab": {"a": 0},
                    "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}})")
                .find("model.vocab lacks 255 of the 256 byte tokens"),
            std::string::npos);
  // A vocabulary without a few byte tokens (GPT-NeoX lacks the 13 bytes
  // valid UTF-8 never holds) loads; such a byte is dropped.
  std::string noBang = Spec().json();
  size_t at = noBang.find("\"!\":33");
  ASSERT_NE(at, std::string::npos);
  noBang.replace(at, 6, "\"!!\":33");
  auto t = Tokenizer::parse(noBang);
  ASSERT_TRUE(static_cast<bool>(t)) << llvm::toString(t.takeError());
  EXPECT_EQ((*t)->encode("a!b"), (std::vector<int64_t>{'a', 'b'}));
  auto missing = Tokenizer::load("/nonexistent/tokenizer.json");
  ASSERT_FALSE(missing);
  EXPECT_NE(llvm::toString(missing.takeError()).find("cannot read"),
            std::string::npos);
}

} // namespace
