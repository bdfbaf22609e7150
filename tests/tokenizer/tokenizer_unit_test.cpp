// The module's pieces on small inputs written here: UTF-8, Unicode forms,
// regex semantics, SHA-256, and a synthetic tokenizer.json exercising BPE and
// added-token rules.
#include <gtest/gtest.h>

#include "core/rng.h"
#include "tokenizer/regex.h"
#include "tokenizer/sha256.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace mlxs::tokenizer {
namespace {

std::string nfc(std::string_view s, unicode::Form f = unicode::Form::kNfc) {
  std::string out;
  unicode::normalize(s, f, out);
  return out;
}

TEST(Utf8, LossyReplacesMaximalSubparts) {
  EXPECT_EQ(utf8::to_valid("abc"), "abc");
  EXPECT_EQ(utf8::to_valid("\xF0\x90\x80"
                           "a"),
            "\xEF\xBF\xBD"
            "a");  // truncated 4-byte: one U+FFFD
  EXPECT_EQ(utf8::to_valid("\xE0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // E0 80 is never valid: two
  EXPECT_EQ(utf8::to_valid("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(utf8::to_valid("\xC3"), "\xEF\xBF\xBD");
  EXPECT_EQ(utf8::to_valid("\xFF\xC3\xA9"), "\xEF\xBF\xBD\xC3\xA9");
}

TEST(Utf8, StreamMatchesBatchOnRandomBytes) {
  core::Xoshiro256 rng(1);
  const unsigned char interesting[] = {0x41, 0x80, 0xBF, 0xC2, 0xC3, 0xDF, 0xE0, 0xE2, 0xED, 0xEF,
                                       0xF0, 0xF4, 0xF5, 0xFF, 0xA0, 0x90, 0x8F, 0x82, 0xAC};
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bytes;
    const auto n = rng.below(12);
    for (std::uint64_t i = 0; i < n; ++i)
      bytes.push_back(static_cast<char>(interesting[rng.below(sizeof(interesting))]));
    utf8::LossyStream stream;
    std::string out;
    for (const char c : bytes) stream.push(std::string_view(&c, 1), out);
    stream.finish(out);
    ASSERT_EQ(out, utf8::to_valid(bytes)) << trial;
  }
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Unicode, NormalizationForms) {
  EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9");                                 // e + acute -> é
  EXPECT_EQ(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // jamo -> 각
  EXPECT_EQ(nfc("\xC3\xA9", unicode::Form::kNfd), "e\xCC\x81");
  EXPECT_EQ(nfc("\xEF\xAC\x81", unicode::Form::kNfkc), "fi");                     // ﬁ ligature
  EXPECT_EQ(nfc("\xEF\xAC\x81"), "\xEF\xAC\x81");                                 // NFC keeps it
  EXPECT_EQ(nfc("a\xCC\xA3\xCC\x87", unicode::Form::kNfd), "a\xCC\xA3\xCC\x87");  // already ordered
  EXPECT_EQ(nfc("a\xCC\x87\xCC\xA3", unicode::Form::kNfd),
            "a\xCC\xA3\xCC\x87");              // reordered by class
  EXPECT_EQ(nfc("\xE2\x84\xAB"), "\xC3\x85");  // Angstrom sign -> Å
  EXPECT_TRUE(unicode::is_nfc_quick("plain ascii"));
  std::string lower;
  unicode::lowercase(
      "\xC4\xB0"
      "ABC",
      lower);  // İ -> i + combining dot
  EXPECT_EQ(lower,
            "i\xCC\x87"
            "abc");
}

TEST(Regex, OnigurumaSemantics) {
  auto re = Regex::compile(R"(\s+)", "test");
  ASSERT_TRUE(re.is_ok());
  std::vector<std::pair<std::size_t, std::size_t>> hits;
  // U+180E is not White_Space (PCRE2's own \s would take it).
  const std::string text =
      "a \xE1\xA0\x8E"
      "b\xC2\xA0"
      "c";
  ASSERT_TRUE(
      (*re)
          ->for_each_match(text, [&](std::size_t s, std::size_t e) { hits.emplace_back(s, e); })
          .is_ok());
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0], std::make_pair(std::size_t{1}, std::size_t{2}));
  // Empty matches: one per position, none glued after a non-empty match.
  auto star = Regex::compile("x*", "test");
  ASSERT_TRUE(star.is_ok());
  hits.clear();
  ASSERT_TRUE(
      (*star)
          ->for_each_match("axxb", [&](std::size_t s, std::size_t e) { hits.emplace_back(s, e); })
          .is_ok());
  const std::vector<std::pair<std::size_t, std::size_t>> want = {{0, 0}, {1, 3}, {4, 4}};
  EXPECT_EQ(hits, want);
  EXPECT_FALSE(Regex::compile("(", "pre_tokenizer.pattern.Regex").is_ok());
}

// A small BPE tokenizer: byte fallback, unk, a TemplateProcessing BOS, and
// added tokens with every flag.
std::string synthetic_json(const std::string& merges, const std::string& extra_model = "") {
  return R"({
    "version": "1.0",
    "added_tokens": [
      {"id": 0, "content": "<unk>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
      {"id": 1, "content": "<s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
      {"id": 20, "content": "<L>", "special": true, "normalized": false, "lstrip": true, "rstrip": false, "single_word": false},
      {"id": 21, "content": "<R>", "special": true, "normalized": false, "lstrip": false, "rstrip": true, "single_word": false},
      {"id": 22, "content": "cat", "special": false, "normalized": true, "lstrip": false, "rstrip": false, "single_word": true}
    ],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": null,
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true)" +
         extra_model + R"(,
      "vocab": {"<unk>": 0, "<s>": 1, "▁": 2, "a": 3, "b": 4, "ab": 5, "▁ab": 6, "c": 7, "abc": 8, "<0xC3>": 9, "<0xA9>": 10,
                "t": 11, "ca": 12, "cat": 13, "▁c": 14, "▁ca": 15, "▁cat": 16, "▁abc": 17},
      "merges": )" +
         merges + R"(}
  })";
}

std::unique_ptr<Tokenizer> load_synthetic(
    const std::string& merges =
        R"(["a b", ["▁", "ab"], "ab c", "c a", "ca t", "▁ c", "▁c a", "▁ca t"])") {
  auto t = Tokenizer::from_json(synthetic_json(merges));
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return t.is_ok() ? std::move(t).value() : nullptr;
}

std::vector<std::int32_t> enc(const Tokenizer& t, std::string_view s, bool add = false) {
  auto r = t.encode(s, add);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : std::vector<std::int32_t>{};
}

using Ids = std::vector<std::int32_t>;

TEST(SyntheticTokenizer, BpeMergesByteFallbackAndUnk) {
  auto t = load_synthetic();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(enc(*t, "ab"), (Ids{6}));           // ▁ab via "a b" then "▁ ab" (both merge forms)
  EXPECT_EQ(enc(*t, "ab", true), (Ids{1, 6}));  // TemplateProcessing adds <s>
  EXPECT_EQ(enc(*t, "abc"), (Ids{6, 7}));       // a+b (rank 0), ▁+ab (1) beats ab+c (2)
  EXPECT_EQ(enc(*t, "\xC3\xA9"), (Ids{2, 9, 10}));  // é by byte fallback
  EXPECT_EQ(enc(*t, "zz"), (Ids{2, 0}));            // two unknown chars fused into one unk
  auto d = t->decode(Ids{1, 2, 9, 10, 5}, false);
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(*d,
            "<s> \xC3\xA9"
            "ab");
  d = t->decode(Ids{2, 9, 5}, true);  // broken byte run: one U+FFFD per byte
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(*d,
            "\xEF\xBF\xBD"
            "ab");
}

TEST(SyntheticTokenizer, AddedTokenFlags) {
  auto t = load_synthetic();
  ASSERT_NE(t, nullptr);
  // lstrip eats the spaces before <L>; rstrip the spaces after <R>.
  EXPECT_EQ(enc(*t, "ab  <L>ab"), (Ids{6, 20, 6}));
  EXPECT_EQ(enc(*t, "ab<R>  ab"), (Ids{6, 21, 6}));
  // "cat" is normalized: its pattern is the normalizer's "▁cat", matched in
  // normalized text; single_word: not when a word character touches it.
  EXPECT_EQ(enc(*t, "cat"), (Ids{22}));
  EXPECT_EQ(enc(*t, "<s>cat"), (Ids{1, 22}));
  EXPECT_EQ(enc(*t, "ab cat"), (Ids{6, 2, 13}));  // "b▁cat": not a single word, BPE instead
  // Special tokens are matched whatever add_special_tokens says.
  EXPECT_EQ(enc(*t, "<s>", false), (Ids{1}));
  EXPECT_EQ(enc(*t, "<s>", true), (Ids{1, 1}));
  EXPECT_TRUE(t->is_special(1));
  EXPECT_FALSE(t->is_special(22));
  EXPECT_EQ(t->token_to_id("<R>"), 21);
  EXPECT_EQ(t->id_to_token(22), "cat");
}

TEST(SyntheticTokenizer, IgnoreMergesTakesWholeWords) {
  // Without merges reaching "abc", only ignore_merges yields it whole.
  auto plain = Tokenizer::from_json(synthetic_json(R"(["a b"])"));
  ASSERT_TRUE(plain.is_ok());
  auto ignore = Tokenizer::from_json(synthetic_json(R"(["a b"])", R"(, "ignore_merges": true)"));
  ASSERT_TRUE(ignore.is_ok());
  EXPECT_EQ(enc(**plain, "<s>abc"), (Ids{1, 2, 5, 7}));
  EXPECT_EQ(enc(**ignore, "<s>abc"), (Ids{1, 17}));
}

TEST(SyntheticTokenizer, HugeRepetitionIsLinear) {
  auto t = load_synthetic();
  ASSERT_NE(t, nullptr);
  // One 1 MB word: the heap-based merge handles it (a quadratic merge would
  // not finish within the test's time limit under sanitizers).
  const std::string text(1 << 20, 'a');
  const auto ids = enc(*t, text);
  ASSERT_EQ(ids.size(), 1u + (1u << 20));
  EXPECT_EQ(ids[0], 2);
}

struct BadCase {
  const char* what;
  std::string json;
  const char* field;
};

TEST(SyntheticTokenizer, MalformedFilesNameTheField) {
  const std::string good = synthetic_json(R"(["a b"])");
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) s.replace(pos, from.size(), to);
    return s;
  };
  const std::vector<BadCase> cases = {
      {"not json", "{", "tokenizer.json"},
      {"no model", R"({"added_tokens": []})", "model"},
      {"merge not in vocab", synthetic_json(R"(["a b", "x y"])"), "model.merges[1]"},
      {"merge with three parts", synthetic_json(R"(["a b c"])"), "model.merges[0]"},
      {"merge of wrong type", synthetic_json(R"([42])"), "model.merges[0]"},
      {"vocab id negative", replace(R"("a": 3)", R"("a": -3)"), "model.vocab.a"},
      {"unk not in vocab", replace(R"("unk_token": "<unk>")", R"("unk_token": "<nope>")"),
       "model.unk_token"},
      {"unknown normalizer", replace(R"("type": "Prepend")", R"("type": "Frobnicate")"),
       "normalizer.normalizers[0].type"},
      {"bad regex",
       replace(
           R"("pre_tokenizer": null)",
           R"("pre_tokenizer": {"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated", "invert": false})"),
       "pre_tokenizer.pattern.Regex"},
      {"bad behavior",
       replace(
           R"("pre_tokenizer": null)",
           R"("pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways", "invert": false})"),
       "pre_tokenizer.behavior"},
      {"added token without content", replace(R"("content": "<s>")", R"("contents": "<s>")"),
       "added_tokens[1].content"},
      {"template special missing",
       replace(R"("special_tokens": {"<s>")", R"("special_tokens": {"<x>")"),
       "post_processor.special_tokens"},
      {"strip start negative", replace(R"("start": 1)", R"("start": -1)"), "decoder.decoders[3]"},
  };
  for (const auto& c : cases) {
    auto t = Tokenizer::from_json(c.json);
    ASSERT_FALSE(t.is_ok()) << c.what;
    EXPECT_EQ(t.status().code(), core::ErrorCode::kTokenizerError) << c.what;
    EXPECT_NE(t.status().message().find(c.field), std::string::npos)
        << c.what << ": " << t.status().message();
  }
  // tokenizer_config.json problems name that file and the field.
  for (const auto& [config, field] : std::vector<std::pair<std::string, std::string>>{
           {R"({"bos_token": 3})", "tokenizer_config.json: bos_token"},
           {R"({"eos_token": {"text": "x"}})", "tokenizer_config.json: eos_token.content"},
           {R"({"add_bos_token": "yes"})", "tokenizer_config.json: add_bos_token"},
           {"[1,", "tokenizer_config.json"}}) {
    auto t = Tokenizer::from_json(good, config);
    ASSERT_FALSE(t.is_ok()) << config;
    EXPECT_EQ(t.status().code(), core::ErrorCode::kTokenizerError);
    EXPECT_NE(t.status().message().find(field), std::string::npos) << t.status().message();
  }
  auto with_config = Tokenizer::from_json(
      good,
      R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null})");
  ASSERT_TRUE(with_config.is_ok()) << with_config.status().to_string();
  EXPECT_EQ((*with_config)->bos_id(), 1);
  EXPECT_EQ((*with_config)->eos_id(), -1);  // named, but not a token of this tokenizer
  EXPECT_EQ((*with_config)->pad_id(), -1);
}

TEST(SyntheticTokenizer, LoadDirErrorsDoNotLeakPaths) {
  auto t = Tokenizer::load_dir("/nonexistent/secret/dir");
  ASSERT_FALSE(t.is_ok());
  EXPECT_EQ(t.status().code(), core::ErrorCode::kTokenizerError);
  EXPECT_EQ(t.status().message().find("/nonexistent"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("tokenizer.json"), std::string::npos);
}

TEST(SyntheticTokenizer, StreamingHoldsIncompleteCharacters) {
  auto t = load_synthetic();
  ASSERT_NE(t, nullptr);
  StreamDecoder s(*t, false);
  std::string out;
  ASSERT_TRUE(s.push(2, out).is_ok());  // "▁" at the start: stripped
  ASSERT_TRUE(s.push(9, out).is_ok());  // first byte of é: held
  ASSERT_TRUE(s.push(10, out).is_ok());
  // Still held: a further byte token could make the whole run invalid, and
  // ByteFallback then turns every byte of the run into U+FFFD.
  EXPECT_EQ(out, "");
  ASSERT_TRUE(s.push(5, out).is_ok());  // "ab" closes the run
  EXPECT_EQ(out,
            "\xC3\xA9"
            "ab");
  ASSERT_TRUE(s.push(9, out).is_ok());  // an incomplete é at the end...
  EXPECT_EQ(out,
            "\xC3\xA9"
            "ab");
  ASSERT_TRUE(s.finish(out).is_ok());  // ...flushes as U+FFFD, like decode
  EXPECT_EQ(out,
            "\xC3\xA9"
            "ab\xEF\xBF\xBD");
  auto batch = t->decode(Ids{2, 9, 10, 5, 9}, false);
  ASSERT_TRUE(batch.is_ok());
  EXPECT_EQ(out, *batch);
}

}  // namespace
}  // namespace mlxs::tokenizer
