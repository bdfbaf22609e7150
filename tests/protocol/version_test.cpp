#include <gtest/gtest.h>

#include "protocol/version.h"

namespace mlxs::protocol {
namespace {

TEST(Version, ParsesMajorMinor) {
  auto v = parse_protocol_version("1.0");
  ASSERT_TRUE(v.is_ok());
  EXPECT_EQ(v->major, 1);
  EXPECT_EQ(v->minor, 0);
  for (std::string_view bad : {"", "1", "1.", ".1", "a.b", "1.0.0", "12345.1", "-1.0", "1.x"}) {
    EXPECT_FALSE(parse_protocol_version(bad).is_ok()) << bad;
  }
}

TEST(Version, UnknownMajorIsUnsupported) {
  EXPECT_TRUE(check_protocol_version("1.0").is_ok());
  EXPECT_TRUE(check_protocol_version("1.9").is_ok()) << "a newer minor only adds";
  const auto s = check_protocol_version("2.0");
  EXPECT_EQ(s.code(), core::ErrorCode::kUnsupported);
  EXPECT_NE(s.message().find("1.x"), std::string::npos);
  EXPECT_EQ(check_protocol_version("0.1").code(), core::ErrorCode::kUnsupported);
  EXPECT_EQ(check_protocol_version("one").code(), core::ErrorCode::kInvalidParams);
  EXPECT_EQ(protocol_version_string(), "1.1");
}

TEST(Version, NegotiatesKnownExtensionsOnce) {
  const std::vector<std::string> asked = {"stream.step", "teleport", "stream.step",
                                          "stream/cancel"};
  EXPECT_EQ(negotiate_extensions(asked),
            (std::vector<std::string>{"stream.step", "stream/cancel"}));
  EXPECT_TRUE(negotiate_extensions({}).empty());
  const std::vector<std::string> progress = {"model.load_progress"};
  EXPECT_EQ(negotiate_extensions(progress), progress);
}

}  // namespace
}  // namespace mlxs::protocol
