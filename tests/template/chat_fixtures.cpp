#include "chat_fixtures.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include "core/json_util.h"
#include "testing/fixtures.h"

namespace mlxs::template_::testing {
namespace fs = std::filesystem;

std::string repo_root() {
  if (const char* src = std::getenv("MLXS_SOURCE_DIR"); src != nullptr && *src != '\0') return src;
  return MLXS_TEMPLATE_TEST_SOURCE_DIR;
}

std::vector<ChatFixture> chat_fixtures() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(mlxs::testing::fixture_path("tokenizers"), ec)) {
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<ChatFixture> out;
  for (const auto& path : files) {
    ChatFixture f;
    f.name = fs::path(path).stem().string();
    auto text = core::read_file(path, f.name + ".json", 512u << 20);
    if (!text) {
      f.error = text.status().to_string();
      out.push_back(std::move(f));
      continue;
    }
    f.doc = OrderedJson::parse(*text, nullptr, false);
    if (f.doc.is_discarded() || !f.doc.is_object()) {
      f.error = path + ": not valid JSON";
      out.push_back(std::move(f));
      continue;
    }
    if (!f.doc.contains("chat") || !f.doc["chat"].is_array() || f.doc["chat"].empty()) continue;
    const std::string package = f.doc["meta"]["package"]["name"].get<std::string>();
    f.model_dir = (fs::path(repo_root()) / "node_modules" / package / "models").string();
    if (f.doc["meta"].contains("sha256")) {
      for (const auto& [file, digest] : f.doc["meta"]["sha256"].items()) {
        auto data = core::read_file((fs::path(f.model_dir) / file).string(), file, 512u << 20);
        if (!data) {
          f.error = data.status().to_string() + " (scripts/setup.sh installs " + package +
                    " with npm ci)";
          break;
        }
        if (sha256_hex(*data) != digest.get<std::string>()) {
          f.error = file + " of " + package + " does not match the fixture's sha256";
          break;
        }
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

// FIPS 180-4 SHA-256, enough to check a fixture's files.
std::string sha256_hex(const std::string& data) {
  static constexpr std::uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  std::array<std::uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg = data;
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back('\0');
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
  const auto rotr = [](std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (std::size_t off = 0; off < msg.size(); off += 64) {
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = 0;
      for (int b = 0; b < 4; ++b) {
        w[i] = (w[i] << 8) |
               static_cast<unsigned char>(msg[off + static_cast<std::size_t>(i * 4 + b)]);
      }
    }
    for (int i = 16; i < 64; ++i) {
      const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      const std::uint32_t t1 =
          hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const std::uint32_t t2 =
          (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const std::uint32_t v : h) {
    for (int i = 7; i >= 0; --i) out.push_back(kHex[(v >> (4 * i)) & 0xF]);
  }
  return out;
}

}  // namespace mlxs::template_::testing
