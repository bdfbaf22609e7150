#include "tokenizer/bpe.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>

#include <fmt/format.h>

#include "tokenizer/utf8.h"

namespace mlxs::tokenizer {
namespace {

// Words at least this long are not cached (as tokenizers' MAX_LENGTH).
constexpr std::size_t kMaxCachedWordBytes = 256;
constexpr std::size_t kCacheMaxEntries = 1 << 16;

std::atomic<std::uint64_t> g_next_owner{1};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const {
    return static_cast<std::size_t>(hash_bytes(s));
  }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

// A per-thread cache of word -> ids, so that concurrent encodes share no lock.
struct WordCache {
  std::uint64_t owner = 0;
  std::uint64_t epoch = 0;
  std::unordered_map<std::string, std::pair<std::uint32_t, std::uint32_t>, StringHash, StringEq>
      map;
  std::vector<std::int32_t> pool;
};

WordCache& cache_for(std::uint64_t owner, std::uint64_t epoch) {
  thread_local std::vector<WordCache> caches(4);
  thread_local std::size_t next_victim = 0;
  for (auto& c : caches) {
    if (c.owner != owner) continue;
    if (c.epoch != epoch) {
      c.epoch = epoch;
      c.map.clear();
      c.pool.clear();
    }
    return c;
  }
  WordCache& c = caches[next_victim];
  next_victim = (next_victim + 1) % caches.size();
  c.owner = owner;
  c.epoch = epoch;
  c.map.clear();
  c.pool.clear();
  return c;
}

struct Symbol {
  std::int32_t id;
  std::int32_t prev, next;
  bool alive;
};

struct Candidate {
  std::uint32_t rank;
  std::uint32_t pos;
  std::int32_t new_id;
  // The heap pops the largest: invert to get lowest rank, then lowest position.
  bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

BpeModel::~BpeModel() = default;

void BpeModel::insert_merge(std::int32_t a, std::int32_t b, std::uint32_t rank,
                            std::int32_t new_id) {
  const std::uint64_t key = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a) + 1) << 32) |
                            (static_cast<std::uint32_t>(b) + 1);
  std::uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> shift_;
  while (merges_[h].key != 0 && merges_[h].key != key) h = (h + 1) & mask_;
  // A repeated pair keeps its last rank, as a map built from the list would.
  merges_[h] = {key, rank, new_id};
}

core::Result<std::unique_ptr<BpeModel>> BpeModel::from_json(const Json& json,
                                                            std::string_view path) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  MLXS_ASSIGN_OR_RETURN(const Json* vocab_json, req_field(json, "vocab", path));
  MLXS_ASSIGN_OR_RETURN(m->vocab_, Vocab::from_json(*vocab_json, child_path(path, "vocab")));
  MLXS_ASSIGN_OR_RETURN(const Json* merges_json, req_field(json, "merges", path));
  BpeOptions& o = m->opt_;
  if (json.contains("unk_token") && !json["unk_token"].is_null()) {
    MLXS_ASSIGN_OR_RETURN(o.unk_token, req_string(json, "unk_token", path));
    o.has_unk = true;
  }
  MLXS_ASSIGN_OR_RETURN(o.continuing_subword_prefix,
                        opt_string(json, "continuing_subword_prefix", path));
  MLXS_ASSIGN_OR_RETURN(o.end_of_word_suffix, opt_string(json, "end_of_word_suffix", path));
  MLXS_ASSIGN_OR_RETURN(o.fuse_unk, opt_bool(json, "fuse_unk", path, false));
  MLXS_ASSIGN_OR_RETURN(o.byte_fallback, opt_bool(json, "byte_fallback", path, false));
  MLXS_ASSIGN_OR_RETURN(o.ignore_merges, opt_bool(json, "ignore_merges", path, false));
  if (json.contains("dropout") && !json["dropout"].is_null()) {
    const Json& d = json["dropout"];
    if (!d.is_number() || d.get<double>() < 0.0 || d.get<double>() > 1.0) {
      return field_error(child_path(path, "dropout"), "expected a number in [0, 1]");
    }
    if (d.get<double>() != 0.0) {
      return field_error(child_path(path, "dropout"),
                         "BPE dropout is a training feature and is not supported");
    }
  }
  if (o.has_unk) {
    m->unk_id_ = m->vocab_.find(o.unk_token);
    if (m->unk_id_ < 0)
      return field_error(child_path(path, "unk_token"), "the unk token is not in the vocabulary");
  }

  const std::string merges_path = child_path(path, "merges");
  if (!merges_json->is_array()) return field_error(merges_path, "expected an array");
  const std::size_t n = merges_json->size();
  std::size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  m->merges_.assign(cap, MergeSlot{});
  m->mask_ = cap - 1;
  m->shift_ = 64 - __builtin_ctzll(cap);
  const std::size_t prefix_len = o.continuing_subword_prefix.size();
  std::string joined;
  std::uint32_t rank = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Json& e = (*merges_json)[i];
    std::string_view a, b;
    std::string line;
    if (e.is_string()) {
      line = e.get_ref<const std::string&>();
      if (line.rfind("#version", 0) == 0) continue;
      const auto sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
        return field_error(index_path(merges_path, i),
                           "expected \"left right\" (two tokens separated by one space)");
      }
      a = std::string_view(line).substr(0, sp);
      b = std::string_view(line).substr(sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get_ref<const std::string&>();
      b = e[1].get_ref<const std::string&>();
    } else {
      return field_error(index_path(merges_path, i), "expected \"a b\" or [\"a\", \"b\"]");
    }
    const std::int32_t ia = m->vocab_.find(a), ib = m->vocab_.find(b);
    if (ia < 0 || ib < 0) {
      return field_error(index_path(merges_path, i),
                         fmt::format("token \"{}\" is not in the vocabulary", ia < 0 ? a : b));
    }
    if (b.size() < prefix_len) {
      return field_error(index_path(merges_path, i),
                         "right token is shorter than continuing_subword_prefix");
    }
    joined.assign(a).append(b.substr(prefix_len));
    const std::int32_t merged = m->vocab_.find(joined);
    if (merged < 0) {
      return field_error(index_path(merges_path, i),
                         fmt::format("merged token \"{}\" is not in the vocabulary", joined));
    }
    m->insert_merge(ia, ib, rank++, merged);
  }

  for (int b = 0; b < 256; ++b) m->byte_ids_[b] = m->vocab_.find(fmt::format("<0x{:02X}>", b));
  if (o.continuing_subword_prefix.empty() && o.end_of_word_suffix.empty()) {
    m->small_char_ids_.assign(2048, -1);
    std::string s;
    for (char32_t c = 0; c < 2048; ++c) {
      s.clear();
      utf8::append(s, c);
      m->small_char_ids_[c] = m->vocab_.find(s);
    }
  }
  if (o.continuing_subword_prefix.empty() && o.end_of_word_suffix.empty()) m->build_pair_filter();
  m->cache_owner_ = g_next_owner.fetch_add(1);
  return m;
}

void BpeModel::build_pair_filter() {
  pair_filter_.assign((std::size_t{1} << 24) / 64, 0);
  for (std::size_t id = 0; id < vocab_.id_limit(); ++id) {
    const std::string* t = vocab_.token(static_cast<std::int32_t>(id));
    if (t == nullptr || !utf8::is_valid(*t)) continue;
    std::size_t i = 0, len = 0;
    char32_t prev = 0;
    bool have_prev = false;
    while (i < t->size()) {
      const char32_t c = utf8::decode_valid(*t, i, &len);
      if (have_prev) {
        const std::uint64_t h =
            ((static_cast<std::uint64_t>(prev) << 32 | c) * 0x9E3779B97F4A7C15ull) >> 40;
        pair_filter_[h >> 6] |= std::uint64_t{1} << (h & 63);
      }
      prev = c;
      have_prev = true;
      i += len;
    }
  }
}

std::int32_t BpeModel::char_id(std::string_view ch) const {
  if (!small_char_ids_.empty()) {
    std::size_t len = 0;
    const char32_t c = utf8::decode_valid(ch, 0, &len);
    if (c < small_char_ids_.size()) return small_char_ids_[c];
  }
  return vocab_.find(ch);
}

void BpeModel::merge_word(std::string_view w, std::vector<std::int32_t>& ids) const {
  thread_local std::vector<Symbol> syms;
  thread_local std::vector<Candidate> heap_storage;
  thread_local std::string buf;
  syms.clear();
  auto add = [&](std::int32_t id) {
    const auto idx = static_cast<std::int32_t>(syms.size());
    syms.push_back({id, idx - 1, idx + 1, true});
  };
  // Initial symbols: characters (with prefix/suffix), then byte fallback, then unk.
  bool have_unk = false;
  std::size_t i = 0;
  const bool plain = opt_.continuing_subword_prefix.empty() && opt_.end_of_word_suffix.empty();
  while (i < w.size()) {
    const std::size_t len = utf8::sequence_length_of_lead(static_cast<unsigned char>(w[i]));
    std::string_view s = w.substr(i, len);
    const bool is_first = i == 0;
    const bool is_last = i + len >= w.size();
    i += len;
    std::int32_t id;
    if (plain) {
      id = char_id(s);
    } else {
      buf.clear();
      if (!is_first) buf.append(opt_.continuing_subword_prefix);
      buf.append(s);
      if (is_last) buf.append(opt_.end_of_word_suffix);
      s = buf;
      id = vocab_.find(s);
    }
    if (id >= 0) {
      if (have_unk) {
        add(unk_id_);
        have_unk = false;
      }
      add(id);
      continue;
    }
    if (opt_.byte_fallback) {
      bool all = true;
      for (const char c : s) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        // tokenizers adds these before flushing a pending unk; so do we.
        for (const char c : s) add(byte_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (opt_.has_unk) {
      if (have_unk && !opt_.fuse_unk) add(unk_id_);
      have_unk = true;
    }
  }
  if (have_unk) add(unk_id_);
  if (syms.empty()) return;
  syms.back().next = -1;

  auto& heap = heap_storage;
  heap.clear();
  auto push = [&](Candidate c) {
    heap.push_back(c);
    std::push_heap(heap.begin(), heap.end());
  };
  for (std::size_t k = 0; k + 1 < syms.size(); ++k) {
    if (const MergeSlot* m = find_merge(syms[k].id, syms[k + 1].id)) {
      heap.push_back({m->rank, static_cast<std::uint32_t>(k), m->new_id});
    }
  }
  std::make_heap(heap.begin(), heap.end());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& cur = syms[top.pos];
    if (!cur.alive || cur.next < 0) continue;
    Symbol& right = syms[static_cast<std::size_t>(cur.next)];
    const MergeSlot* m = find_merge(cur.id, right.id);
    if (m == nullptr || m->new_id != top.new_id) continue;  // stale entry
    cur.id = top.new_id;
    right.alive = false;
    cur.next = right.next;
    if (cur.next >= 0)
      syms[static_cast<std::size_t>(cur.next)].prev = static_cast<std::int32_t>(top.pos);
    if (cur.prev >= 0) {
      const Symbol& p = syms[static_cast<std::size_t>(cur.prev)];
      if (const MergeSlot* pm = find_merge(p.id, cur.id)) {
        push({pm->rank, static_cast<std::uint32_t>(cur.prev), pm->new_id});
      }
    }
    if (cur.next >= 0) {
      const Symbol& nx = syms[static_cast<std::size_t>(cur.next)];
      if (const MergeSlot* nm = find_merge(cur.id, nx.id)) {
        push({nm->rank, top.pos, nm->new_id});
      }
    }
  }
  for (const Symbol& s : syms) {
    if (s.alive) ids.push_back(s.id);
  }
}

core::Status BpeModel::tokenize(std::string_view word, std::vector<std::int32_t>& ids) const {
  if (word.empty()) return core::Status::ok();
  if (opt_.ignore_merges) {
    const std::int32_t id = vocab_.find(word);
    if (id >= 0) {
      ids.push_back(id);
      return core::Status::ok();
    }
  }
  if (word.size() < kMaxCachedWordBytes || pair_filter_.empty()) {
    tokenize_word(word, ids);
    return core::Status::ok();
  }
  // A long word (SentencePiece-style models see whole texts as one word) is
  // cut between characters x, y that are both in the vocabulary and never
  // adjacent inside any token: no merge can produce a token spanning such a
  // cut, so merges on either side never interact and the result is the
  // concatenation of the parts' results (which the word memo then serves).
  std::size_t start = 0, i = 0, len = 0;
  char32_t prev = 0;
  bool prev_known = false;
  while (i < word.size()) {
    const char32_t c = utf8::decode_valid(word, i, &len);
    const bool known = char_id(word.substr(i, len)) >= 0;
    if (i > start && prev_known && known && !may_join(prev, c)) {
      tokenize_word(word.substr(start, i - start), ids);
      start = i;
    }
    prev = c;
    prev_known = known;
    i += len;
  }
  tokenize_word(word.substr(start), ids);
  return core::Status::ok();
}

void BpeModel::tokenize_word(std::string_view word, std::vector<std::int32_t>& ids) const {
  if (word.size() >= kMaxCachedWordBytes) {
    merge_word(word, ids);
    return;
  }
  WordCache& cache = cache_for(cache_owner_, cache_epoch_.load(std::memory_order_relaxed));
  if (const auto it = cache.map.find(word); it != cache.map.end()) {
    const auto [off, len] = it->second;
    ids.insert(ids.end(), cache.pool.begin() + off, cache.pool.begin() + off + len);
    return;
  }
  const std::size_t before = ids.size();
  merge_word(word, ids);
  if (cache.map.size() >= kCacheMaxEntries) {
    cache.map.clear();
    cache.pool.clear();
  }
  const auto off = static_cast<std::uint32_t>(cache.pool.size());
  cache.pool.insert(cache.pool.end(), ids.begin() + static_cast<std::ptrdiff_t>(before), ids.end());
  cache.map.emplace(std::string(word),
                    std::pair(off, static_cast<std::uint32_t>(ids.size() - before)));
}

}  // namespace mlxs::tokenizer
