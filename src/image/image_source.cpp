#include "image/image_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <filesystem>

namespace mlxs::image {
namespace {

using core::ErrorCode;

core::Status refuse(std::string_view what) {
  return core::Status(ErrorCode::kInvalidParams, std::string(what));
}

constexpr std::array<std::int8_t, 256> make_table() {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return t;
}
constexpr std::array<std::int8_t, 256> kTable = make_table();

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// `path` relative to `root`, both canonical; true when it does not leave root.
bool inside(const std::filesystem::path& root, const std::filesystem::path& path) {
  auto r = root.begin();
  auto p = path.begin();
  for (; r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // the trailing "" of "/a/b/"
    if (p == path.end() || *r != *p) return false;
  }
  return true;
}

struct Fd {
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int fd;
};

}  // namespace

core::Result<std::vector<std::uint8_t>> decode_base64(std::string_view text,
                                                      std::size_t max_bytes) {
  // The size bound first, from the length alone, before anything is scanned.
  if (text.size() / 4 > max_bytes / 3 + 1) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "image: about {} bytes of base64 data, over the limit of {}",
                            text.size() / 4 * 3, max_bytes);
  }
  std::size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  const std::size_t body = text.size() - pad;
  for (std::size_t i = 0; i < body; ++i) {
    if (kTable[static_cast<unsigned char>(text[i])] < 0) {
      return core::make_error(ErrorCode::kInvalidParams,
                              "image: invalid base64 character at offset {}", i);
    }
  }
  if (body == 0) return refuse("image: empty base64 data");
  if (pad > 0 && text.size() % 4 != 0) return refuse("image: base64 padding in the wrong place");
  if (body % 4 == 1) return refuse("image: base64 data has a bad length");
  const std::size_t decoded = body / 4 * 3 + (body % 4 == 0 ? 0 : body % 4 - 1);
  if (decoded > max_bytes) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "image: {} bytes of base64 data, over the limit of {}", decoded,
                            max_bytes);
  }
  std::vector<std::uint8_t> out;
  out.reserve(decoded);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < body; ++i) {
    const std::int8_t v = kTable[static_cast<unsigned char>(text[i])];
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  // Canonical encoding only: the leftover bits of the last symbol are zero.
  if (acc != 0) return refuse("image: base64 data has non-zero trailing bits");
  return out;
}

core::Result<std::vector<std::uint8_t>> decode_data_uri(std::string_view uri,
                                                        std::size_t max_bytes) {
  if (!istarts_with(uri, "data:")) return refuse("image: not a data URI");
  const std::size_t comma = uri.find(',');
  if (comma == std::string_view::npos) return refuse("image: data URI without a comma");
  const std::string_view header = uri.substr(5, comma - 5);
  const std::string_view payload = uri.substr(comma + 1);
  const std::size_t semi = header.find(';');
  const std::string_view media = header.substr(0, semi);
  static constexpr std::array<std::string_view, 5> kTypes = {"image/png", "image/jpeg", "image/jpg",
                                                             "image/webp", "image/gif"};
  if (std::none_of(kTypes.begin(), kTypes.end(), [&](auto t) { return iequals(media, t); })) {
    std::string shown(media.substr(0, 40));
    if (shown.empty()) shown = "(none)";
    return core::make_error(ErrorCode::kInvalidParams,
                            "image: data URI media type {} is not an image we decode "
                            "(image/png, image/jpeg, image/webp, image/gif)",
                            shown);
  }
  if (semi == std::string_view::npos || !header.ends_with(";base64")) {
    return refuse("image: data URI must be base64-encoded (;base64,)");
  }
  return decode_base64(payload, max_bytes);
}

core::Result<std::vector<std::uint8_t>> read_local_image(std::string_view path_text,
                                                         const SourceLimits& limits) {
  namespace fs = std::filesystem;
  if (istarts_with(path_text, "file://")) path_text.remove_prefix(7);
  const std::string shown(path_text.substr(0, 200));
  if (limits.local_roots.empty()) return refuse("image: local files are not enabled");
  if (path_text.empty() || path_text.find('\0') != std::string_view::npos) {
    return refuse("image: bad local path");
  }
  fs::path requested(path_text);
  if (requested.is_relative()) requested = fs::path(limits.local_roots.front()) / requested;
  std::error_code ec;
  // Symlinks and ".." are resolved first, so the check below sees where the
  // file really is.
  // A missing file and one outside the roots get the same answer, so that
  // requests cannot probe which files exist elsewhere.
  const auto not_inside = [&shown] {
    return core::make_error(ErrorCode::kInvalidParams,
                            "image: {} is not a file inside the allowed image directories", shown);
  };
  const fs::path real = fs::canonical(requested, ec);
  if (ec) return not_inside();
  bool allowed = false;
  for (const std::string& root : limits.local_roots) {
    const fs::path real_root = fs::canonical(root, ec);
    if (!ec && inside(real_root, real)) {
      allowed = true;
      break;
    }
  }
  if (!allowed) return not_inside();
  // O_NONBLOCK: opening a FIFO must not wait for a writer. The opened
  // descriptor is what gets checked, so a FIFO or device (or a file swapped for
  // one after canonical()) is refused rather than read.
  const Fd file(::open(real.c_str(), O_RDONLY | O_NONBLOCK |
                                         O_CLOEXEC));  // NOLINT(cppcoreguidelines-pro-type-vararg)
  const int fd = file.fd;
  if (fd < 0) return core::make_error(ErrorCode::kInvalidParams, "image: cannot open {}", shown);
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return core::make_error(ErrorCode::kInvalidParams, "image: {} is not a regular file", shown);
  }
  if (static_cast<std::uint64_t>(st.st_size) > limits.max_bytes) {
    return core::make_error(ErrorCode::kInvalidParams,
                            "image: {} is {} bytes, over the limit of {}", shown, st.st_size,
                            limits.max_bytes);
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return core::make_error(ErrorCode::kInvalidParams, "image: cannot read {}", shown);
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

core::Result<std::vector<std::uint8_t>> load_image_bytes(std::string_view source,
                                                         const SourceLimits& limits) {
  if (istarts_with(source, "data:")) return decode_data_uri(source, limits.max_bytes);
  if (istarts_with(source, "http://") || istarts_with(source, "https://")) {
    return refuse("image: http(s) URLs are not enabled; send the image as a data URI");
  }
  if (istarts_with(source, "file://")) return read_local_image(source, limits);
  // As the original client resolves a source: what looks like base64 is
  // base64 (bare base64 of a JPEG starts with '/'), anything else a path,
  // where files are enabled.
  const bool base64_like =
      source.size() % 4 == 0 && std::all_of(source.begin(), source.end(), [](char c) {
        return c == '=' || kTable[static_cast<unsigned char>(c)] >= 0;
      });
  if (!base64_like && !limits.local_roots.empty()) return read_local_image(source, limits);
  return decode_base64(source, limits.max_bytes);
}

}  // namespace mlxs::image
