//===- Tokenizer.h - byte-level BPE from a tokenizer.json -------*- C++ -*-===//
//
// Text in and out for the language models: the byte-level BPE of GPT-2 and
// GPT-NeoX (the tokenizer of the Mamba checkpoints), read from a Hugging
// Face `tokenizer.json`:
//
//   auto tok = ssmc::models::Tokenizer::load("tokenizer.json");
//   std::vector<int64_t> ids = tok->encode("Mamba is");
//   std::string text = tok->decode(ids);
//
// What is read: `model` (type BPE: `vocab`, `merges` as "a b" strings or
// [a, b] pairs), `added_tokens` (matched in the raw text before
// pre-tokenisation, honouring lstrip/rstrip/single_word), a ByteLevel
// pre-tokenizer (alone or as the only entry of a Sequence), a null or NFC
// normalizer, a ByteLevel (or absent) decoder. Anything else is an error
// naming the field, never a silently different tokenisation.
//
// Deviations, said where a user sees them (docs/models.md): NFC is not
// applied (text already in NFC, which is nearly all text, tokenises
// exactly; decomposed accents may split differently), and \p{L} / \p{N} of
// the pre-tokenizer's pattern are glibc's Unicode classes (C.UTF-8), which
// agree with Unicode's on letters and digits of every living script.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_APPS_LM_TOKENIZER_H
#define SSMC_APPS_LM_TOKENIZER_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ssmc::models {

class Tokenizer {
public:
  /// Reads a tokenizer.json; every unsupported or malformed field is an
  /// error with the file name and the field.
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  load(llvm::StringRef path);
  /// The same from the file's text (`name` appears in errors).
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  parse(llvm::StringRef json, llvm::StringRef name = "tokenizer.json");

  /// Token ids of `text` (any bytes: invalid UTF-8 is encoded byte by
  /// byte; a byte the vocabulary lacks, which only invalid UTF-8 holds,
  /// is `unk_token` or dropped, as `tokenizers` does).
  std::vector<int64_t> encode(llvm::StringRef text) const;
  /// The bytes of `ids`; ids the vocabulary lacks decode to U+FFFD.
  std::string decode(llvm::ArrayRef<int64_t> ids) const;

  /// Decodes a stream token by token: push() returns the text that is
  /// complete so far (a token may end inside a UTF-8 character; its bytes
  /// wait for the next token), finish() the rest.
  class Stream {
  public:
    explicit Stream(const Tokenizer &t) : tok(t) {}
    std::string push(int64_t id);
    std::string finish();

  private:
    const Tokenizer &tok;
    std::string pending;
  };

  /// Largest token id + 1.
  int64_t vocabSize() const { return static_cast<int64_t>(pieces.size()); }
  /// The id of a token's text (added tokens included), or -1.
  int64_t tokenId(llvm::StringRef token) const;

private:
  Tokenizer() = default;
  struct Added {
    std::string content;
    int64_t id;
    bool lstrip, rstrip, singleWord;
  };
  /// Appends the BPE ids of one pre-tokenised word (raw bytes).
  void encodeWord(llvm::StringRef word, std::vector<int64_t> &out) const;
  /// Appends the ids of text that holds no added token.
  void encodePlain(llvm::StringRef text, std::vector<int64_t> &out) const;
  /// The bytes token `id` stands for.
  std::string bytesOf(int64_t id) const;

  std::unordered_map<std::string, int64_t> vocab; ///< byte-level text -> id
  std::vector<std::string> pieces;                ///< id -> byte-level text
  std::vector<bool> isAdded;                      ///< id is an added token
  /// Merge ranks keyed by "left\x01right" (byte-level texts).
  std::unordered_map<std::string, int64_t> ranks;
  std::vector<Added> added; ///< longest first
  bool addPrefixSpace = false;
  int64_t unknown = -1; ///< model.unk_token's id, if any
  /// Ids of words seen before (encode() may run on several threads).
  mutable std::mutex cacheMutex;
  mutable std::unordered_map<std::string, std::vector<int64_t>> wordCache;
};

} // namespace ssmc::models

#endif // SSMC_APPS_LM_TOKENIZER_H
