#include "tokenizer/utf8.h"

namespace mlxs::tokenizer::utf8 {
namespace {

// The accepted range of the second byte for a lead byte (Unicode Table 3-7).
inline bool second_ok(unsigned char b0, unsigned char b1) {
  switch (b0) {
    case 0xE0:
      return b1 >= 0xA0 && b1 <= 0xBF;
    case 0xED:
      return b1 >= 0x80 && b1 <= 0x9F;
    case 0xF0:
      return b1 >= 0x90 && b1 <= 0xBF;
    case 0xF4:
      return b1 >= 0x80 && b1 <= 0x8F;
    default:
      return b1 >= 0x80 && b1 <= 0xBF;
  }
}

inline bool is_cont(unsigned char b) {
  return (b & 0xC0) == 0x80;
}

// Expected total length for a lead byte; 0 when the byte cannot start a sequence.
inline std::size_t lead_length(unsigned char b0) {
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return 2;
  if (b0 >= 0xE0 && b0 <= 0xEF) return 3;
  if (b0 >= 0xF0 && b0 <= 0xF4) return 4;
  return 0;
}

}  // namespace

std::size_t valid_sequence_length(std::string_view s, std::size_t pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  const std::size_t need = lead_length(b0);
  if (need <= 1) return need;
  if (pos + need > s.size()) return 0;
  if (!second_ok(b0, static_cast<unsigned char>(s[pos + 1]))) return 0;
  for (std::size_t i = 2; i < need; ++i) {
    if (!is_cont(static_cast<unsigned char>(s[pos + i]))) return 0;
  }
  return need;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_valid(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = valid_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool is_truncated_sequence(std::string_view tail) {
  if (tail.empty()) return false;
  const auto b0 = static_cast<unsigned char>(tail[0]);
  const std::size_t need = lead_length(b0);
  if (need < 2 || tail.size() >= need) return false;
  if (tail.size() >= 2 && !second_ok(b0, static_cast<unsigned char>(tail[1]))) return false;
  for (std::size_t i = 2; i < tail.size(); ++i) {
    if (!is_cont(static_cast<unsigned char>(tail[i]))) return false;
  }
  return true;
}

void append_lossy(std::string& out, std::string_view bytes) {
  // Valid runs are copied in one piece; each maximal invalid subpart (a lead
  // byte followed by as many bytes as could still continue it) becomes one
  // U+FFFD, as the Unicode "maximal subpart" practice and Rust require.
  std::size_t i = 0, run = 0;
  while (i < bytes.size()) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = valid_sequence_length(bytes, i);
    if (n != 0) {
      i += n;
      continue;
    }
    out.append(bytes.substr(run, i - run));
    std::size_t skip = 1;
    const std::size_t need = lead_length(b0);
    if (need >= 2 && i + 1 < bytes.size() &&
        second_ok(b0, static_cast<unsigned char>(bytes[i + 1]))) {
      skip = 2;
      while (skip < need && i + skip < bytes.size() &&
             is_cont(static_cast<unsigned char>(bytes[i + skip]))) {
        ++skip;
      }
    }
    out.append(kReplacementUtf8);
    i += skip;
    run = i;
  }
  out.append(bytes.substr(run));
}

std::string to_valid(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  append_lossy(out, bytes);
  return out;
}

std::size_t count_chars(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

void LossyStream::push(std::string_view bytes, std::string& out) {
  for (const char c : bytes) push_byte(static_cast<unsigned char>(c), out);
}

void LossyStream::push_byte(unsigned char b, std::string& out) {
  if (pending_len_ == 0) {
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      return;
    }
    if (lead_length(b) < 2) {
      out.append(kReplacementUtf8);
      return;
    }
    pending_[0] = b;
    pending_len_ = 1;
    return;
  }
  const std::size_t need = lead_length(pending_[0]);
  const bool ok = pending_len_ == 1 ? second_ok(pending_[0], b) : is_cont(b);
  if (!ok) {
    // The pending prefix is a maximal invalid subpart; b starts afresh.
    out.append(kReplacementUtf8);
    pending_len_ = 0;
    push_byte(b, out);
    return;
  }
  pending_[pending_len_++] = b;
  if (pending_len_ == need) {
    out.append(reinterpret_cast<const char*>(pending_), need);
    pending_len_ = 0;
  }
}

void LossyStream::finish(std::string& out) {
  if (pending_len_ != 0) out.append(kReplacementUtf8);
  pending_len_ = 0;
}

}  // namespace mlxs::tokenizer::utf8
