// Where load_model looks: local_path rules, trusted directories, model
// directories and the Hugging Face cache layout; errors leak no paths.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "runtime/model_source.h"
#include "testing/fixtures.h"

namespace mlxs::runtime {
namespace {

namespace fs = std::filesystem;

std::string make_dir(const std::string& rel) {
  const fs::path p = fs::path(mlxs::testing::temp_dir()) / "sources" / rel;
  fs::create_directories(p);
  return fs::canonical(p).string();
}

TEST(ModelSource, LocalPathMustBeAnAbsoluteExistingDirectory) {
  const std::string dir = make_dir("plain");
  auto r = resolve_model_dir({"any/id", dir, std::nullopt}, {});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*r, dir);
  auto rel = resolve_model_dir({"m", std::string("relative/dir"), std::nullopt}, {});
  EXPECT_EQ(rel.status().code(), core::ErrorCode::kModelLoadError);
  auto missing = resolve_model_dir({"m", dir + "/nope", std::nullopt}, {});
  EXPECT_EQ(missing.status().code(), core::ErrorCode::kModelLoadError);
  EXPECT_EQ(missing.status().message().find(dir), std::string::npos) << "no path in the message";
  EXPECT_EQ(resolve_model_dir({"m", dir + "/../plain", std::nullopt}, {}).status().code(),
            core::ErrorCode::kInvalidParams);
  EXPECT_EQ(resolve_model_dir({"m", std::string("~/x"), std::nullopt}, {}).status().code(),
            core::ErrorCode::kInvalidParams);
}

TEST(ModelSource, TrustedDirectoriesBoundLocalPaths) {
  const std::string trusted = make_dir("trusted");
  const std::string inside = make_dir("trusted/model");
  const std::string outside = make_dir("elsewhere/model");
  const std::string prefix_trick = make_dir("trusted-not/model");
  SourcePolicy policy{{trusted}, {}};
  EXPECT_TRUE(resolve_model_dir({"m", inside, std::nullopt}, policy).is_ok());
  for (const std::string& d : {outside, prefix_trick}) {
    auto r = resolve_model_dir({"m", d, std::nullopt}, policy);
    EXPECT_EQ(r.status().code(), core::ErrorCode::kModelLoadError) << d;
    EXPECT_NE(r.status().message().find("trusted"), std::string::npos);
  }
  // A symlink inside the trusted folder that points outside is refused.
  const fs::path link = fs::path(trusted) / "link";
  std::error_code ec;
  fs::create_directory_symlink(outside, link, ec);
  if (!ec) {
    EXPECT_FALSE(resolve_model_dir({"m", link.string(), std::nullopt}, policy).is_ok());
  }
}

TEST(ModelSource, ModelIdAsDirectoryOrUnderAModelDir) {
  const std::string root = make_dir("models");
  const std::string named = make_dir("models/org/name");
  auto r = resolve_model_dir({named, std::nullopt, std::nullopt}, {});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, named);
  r = resolve_model_dir({"org/name", std::nullopt, std::nullopt}, SourcePolicy{{}, {root}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*r, named);
}

TEST(ModelSource, HuggingFaceCacheSnapshots) {
  const std::string hub = make_dir("hub");
  const std::string snap_main = make_dir("hub/models--acme--tiny/snapshots/aaaa1111");
  const std::string snap_dev = make_dir("hub/models--acme--tiny/snapshots/bbbb2222");
  fs::create_directories(fs::path(hub) / "models--acme--tiny" / "refs");
  std::ofstream(fs::path(hub) / "models--acme--tiny" / "refs" / "main") << "aaaa1111";
  ::setenv("HF_HUB_CACHE", hub.c_str(), 1);
  auto r = resolve_model_dir({"acme/tiny", std::nullopt, std::nullopt}, {});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*r, snap_main);
  r = resolve_model_dir({"acme/tiny", std::nullopt, std::string("bbbb2222")}, {});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, snap_dev);
  r = resolve_model_dir({"acme/other", std::nullopt, std::nullopt}, {});
  EXPECT_EQ(r.status().code(), core::ErrorCode::kModelLoadError);
  EXPECT_EQ(r.status().message().find(hub), std::string::npos);
  ::unsetenv("HF_HUB_CACHE");
}

}  // namespace
}  // namespace mlxs::runtime
