// Image sources: strict base64, data URIs, and local files under roots only.
#include "image/image_source.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing/fixtures.h"

namespace mlxs::image {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

void expect_invalid(const core::Result<Bytes>& r, std::string_view needle) {
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), core::ErrorCode::kInvalidParams);
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(ImageBase64, Decodes) {
  auto r = decode_base64("aGVsbG8=", 100);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(std::string(r->begin(), r->end()), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8", 100)->size(), 5u);  // padding optional
  EXPECT_EQ(decode_base64("aGk=", 100)->size(), 2u);
  EXPECT_EQ(decode_base64("/+8A", 100)->size(), 3u);
}

TEST(ImageBase64, BadInputRefused) {
  expect_invalid(decode_base64("", 100), "empty");
  expect_invalid(decode_base64("aGVs bG8=", 100), "invalid base64 character at offset 4");
  expect_invalid(decode_base64("aGVsbG8=\n", 100), "invalid base64 character");
  expect_invalid(decode_base64("aG=Vs", 100), "invalid base64 character");
  expect_invalid(decode_base64("a", 100), "bad length");
  expect_invalid(decode_base64("aGVsbG9=", 100), "non-zero trailing bits");
  expect_invalid(decode_base64("aGVsbA===", 100), "invalid base64 character");
  expect_invalid(decode_base64("aGk", 1), "over the limit of 1");
  expect_invalid(decode_base64("-_-_", 100), "invalid base64 character");  // URL-safe alphabet
}

TEST(ImageDataUri, Decodes) {
  auto r = decode_data_uri("data:image/png;base64,aGVsbG8=", 100);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->size(), 5u);
  EXPECT_TRUE(decode_data_uri("DATA:Image/JPEG;base64,aGk=", 100).is_ok());
  EXPECT_TRUE(decode_data_uri("data:image/webp;name=x.webp;base64,aGk=", 100).is_ok());
}

TEST(ImageDataUri, WrongMediaTypeRefused) {
  expect_invalid(decode_data_uri("data:text/plain;base64,aGk=", 100),
                 "media type text/plain is not an image we decode");
  expect_invalid(decode_data_uri("data:image/svg+xml;base64,aGk=", 100), "image/svg+xml");
  expect_invalid(decode_data_uri("data:;base64,aGk=", 100), "(none)");
  expect_invalid(decode_data_uri("data:image/png,aGk=", 100), "base64-encoded");
  expect_invalid(decode_data_uri("data:image/png;base64", 100), "without a comma");
  expect_invalid(decode_data_uri("data:image/png;base64,a*b=", 100), "invalid base64");
}

TEST(ImageSource, DispatchesBySource) {
  SourceLimits limits;
  EXPECT_TRUE(load_image_bytes("data:image/gif;base64,aGk=", limits).is_ok());
  EXPECT_TRUE(load_image_bytes("/9j/4AAQ", limits).is_ok());  // bare base64 of a JPEG start
  expect_invalid(load_image_bytes("https://example.com/cat.png", limits), "not enabled");
  expect_invalid(load_image_bytes("file:///etc/hostname", limits), "local files are not enabled");
}

class ImageLocalFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::path(mlxs::testing::temp_dir()) /
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(base_ / "root" / "sub");
    fs::create_directories(base_ / "outside");
    write(base_ / "root" / "sub" / "a.png", "png-bytes");
    write(base_ / "outside" / "secret.png", "secret");
    limits_.local_roots = {(base_ / "root").string()};
    limits_.max_bytes = 64;
  }
  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

  fs::path base_;
  SourceLimits limits_;
};

TEST_F(ImageLocalFiles, InsideRootReads) {
  auto r = read_local_image((base_ / "root" / "sub" / "a.png").string(), limits_);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(std::string(r->begin(), r->end()), "png-bytes");
  EXPECT_TRUE(read_local_image("sub/a.png", limits_).is_ok());  // relative to the root
  EXPECT_TRUE(load_image_bytes("file://" + (base_ / "root/sub/a.png").string(), limits_).is_ok());
  // A bare path is a file where roots are configured (as the original client
  // reads one); base64 stays base64.
  EXPECT_TRUE(load_image_bytes((base_ / "root/sub/a.png").string(), limits_).is_ok());
  expect_invalid(load_image_bytes((base_ / "outside/secret.png").string(), limits_),
                 "not a file inside");
  expect_invalid(load_image_bytes((base_ / "root/missing.png").string(), limits_),
                 "not a file inside");
  EXPECT_TRUE(load_image_bytes("/9j/4AAQ", limits_).is_ok());
  // ".." that stays inside is fine.
  EXPECT_TRUE(read_local_image("sub/../sub/a.png", limits_).is_ok());
}

TEST_F(ImageLocalFiles, PathTraversalRefused) {
  expect_invalid(read_local_image("../outside/secret.png", limits_),
                 "../outside/secret.png is not a file inside the allowed image directories");
  expect_invalid(
      read_local_image((base_ / "root" / ".." / "outside" / "secret.png").string(), limits_),
      "not a file inside the allowed");
  expect_invalid(read_local_image("/etc/passwd", limits_), "not a file inside the allowed");
  // A sibling whose name starts with the root's is not inside it.
  fs::create_directories(base_ / "root2");
  write(base_ / "root2" / "x.png", "x");
  expect_invalid(read_local_image((base_ / "root2" / "x.png").string(), limits_),
                 "not a file inside");
}

TEST_F(ImageLocalFiles, SymlinkEscapeRefused) {
  fs::create_symlink(base_ / "outside" / "secret.png", base_ / "root" / "link.png");
  fs::create_directory_symlink(base_ / "outside", base_ / "root" / "dirlink");
  expect_invalid(read_local_image("link.png", limits_), "link.png is not a file inside");
  expect_invalid(read_local_image("dirlink/secret.png", limits_), "not a file inside");
  // A symlink that stays inside the root is followed.
  fs::create_symlink(base_ / "root" / "sub" / "a.png", base_ / "root" / "inner.png");
  EXPECT_TRUE(read_local_image("inner.png", limits_).is_ok());
}

TEST_F(ImageLocalFiles, NonRegularFilesRefused) {
  expect_invalid(read_local_image("sub", limits_), "not a regular file");
  ASSERT_EQ(mkfifo((base_ / "root" / "fifo").c_str(), 0600), 0);
  // Opening a FIFO for reading would block; it must be refused before that.
  expect_invalid(read_local_image("fifo", limits_), "not a regular file");
  expect_invalid(read_local_image("missing.png", limits_), "missing.png is not a file inside");
}

TEST_F(ImageLocalFiles, OversizedFileRefused) {
  write(base_ / "root" / "big.png", std::string(65, 'x'));
  expect_invalid(read_local_image("big.png", limits_), "big.png is 65 bytes, over the limit of 64");
}

TEST_F(ImageLocalFiles, MessagesDoNotLeakServerPaths) {
  auto r = read_local_image("../outside/secret.png", limits_);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message().find(base_.string()), std::string::npos);
}

}  // namespace
}  // namespace mlxs::image
