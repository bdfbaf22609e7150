// The built-in UI's asset answers (src/server/web_assets.cpp): content types,
// ETag revalidation (304), unknown names and traversal attempts (404), and
// that the embedded table holds the page and its scripts.
#include "server/web_assets.h"

#include <gtest/gtest.h>

namespace mlxs::server {
namespace {

constexpr WebAsset kFake[] = {
    {"index.html", "\"aaa\"", "<!doctype html>"},
    {"ui/app.css", "\"bbb\"", "body{}"},
    {"ui/js/main.js", "\"ccc\"", "export {};"},
    {"ui/favicon.svg", "\"ddd\"", "<svg/>"},
};

TEST(WebAssets, ServesThePageAtRootAndFilesUnderUi) {
  const AssetAnswer page = web_asset_answer("/", "", kFake);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(page.body, "<!doctype html>");
  EXPECT_EQ(page.etag, "\"aaa\"");
  EXPECT_EQ(web_asset_answer("/ui/app.css", "", kFake).content_type, "text/css; charset=utf-8");
  EXPECT_EQ(web_asset_answer("/ui/js/main.js", "", kFake).content_type,
            "text/javascript; charset=utf-8");
  EXPECT_EQ(web_asset_answer("/ui/favicon.svg", "", kFake).content_type, "image/svg+xml");
  EXPECT_EQ(web_content_type("x.bin"), "application/octet-stream");
}

TEST(WebAssets, MatchingIfNoneMatchIsNotModified) {
  const AssetAnswer same = web_asset_answer("/ui/app.css", "\"bbb\"", kFake);
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.body.empty());
  EXPECT_EQ(same.etag, "\"bbb\"");
  // A list, a weak tag from a proxy, and the wildcard all revalidate.
  EXPECT_EQ(web_asset_answer("/ui/app.css", "\"zzz\", W/\"bbb\"", kFake).status, 304);
  EXPECT_EQ(web_asset_answer("/ui/app.css", "*", kFake).status, 304);
  // Another file's tag is a change: the whole file again.
  const AssetAnswer changed = web_asset_answer("/ui/app.css", "\"aaa\"", kFake);
  EXPECT_EQ(changed.status, 200);
  EXPECT_EQ(changed.body, "body{}");
}

TEST(WebAssets, UnknownNamesAndTraversalAreNotFound) {
  for (const char* path :
       {"/ui/", "/ui/missing.js", "/index.html", "/ui/index.html", "/ui/../index.html",
        "/ui/js/../app.css", "/ui//app.css", "/ui/..\\app.css", "/ui/../../etc/passwd",
        "/ui/js/main.js/", "/uiapp.css", ""}) {
    const AssetAnswer a = web_asset_answer(path, "", kFake);
    EXPECT_EQ(a.status, 404) << path;
    EXPECT_TRUE(a.body.empty()) << path;
  }
  const std::string with_nul("/ui/app.css\0.js", 15);
  EXPECT_EQ(web_asset_answer(with_nul, "", kFake).status, 404);
}

TEST(WebAssets, TheEmbeddedUiHasThePageAndTypedFiles) {
  const AssetAnswer page = web_asset_answer("/", "");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<html"), std::string_view::npos);
  ASSERT_FALSE(embedded_web_assets().empty());
  for (const WebAsset& a : embedded_web_assets()) {
    EXPECT_NE(web_content_type(a.path), "application/octet-stream") << a.path;
    EXPECT_EQ(a.etag.front(), '"') << a.path;
    EXPECT_EQ(a.etag.back(), '"') << a.path;
    EXPECT_FALSE(a.text.empty()) << a.path;
    if (a.path != "index.html") {
      EXPECT_EQ(web_asset_answer("/" + std::string(a.path), "").status, 200) << a.path;
    }
  }
}

}  // namespace
}  // namespace mlxs::server
