// One model directory, checked the way the runtime will read it: config.json,
// the safetensors files (index, headers, sizes), the tokenizer, the chat
// template, and whether the weights fit in memory. Every loader is the
// project's own, so a pass here means the runtime will accept the same files.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "cli/doctor/checks.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "template/chat_config.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::cli::doctor {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kIndexMaxBytes = 64u << 20;

std::uint64_t le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void check_config_json(Report& r, const std::string& dir) {
  const fs::path path = fs::path(dir) / "config.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    r.fail("model.config", dir, "no config.json",
           "copy config.json from the model's Hugging Face repository into the directory");
    return;
  }
  auto config = model::load_model_config(path.string(), "config.json");
  if (!config.is_ok()) {
    std::string supported;
    for (const auto& t : model::supported_model_types())
      supported += (supported.empty() ? "" : ", ") + t;
    r.fail("model.config", dir, config.status().message(),
           "this build serves model_type " + supported);
    return;
  }
  r.pass("model.config", dir,
         fmt::format("{} ({}), {} layers, hidden {}, vocab {}", config->model_type,
                     config->architecture, config->layers, config->hidden, config->vocab));
}

// The shard names model.safetensors.index.json lists, tensor -> file; nullopt
// (after reporting) when the index is unusable.
std::optional<std::map<std::string, std::string>> read_index(Report& r, const std::string& dir,
                                                             const fs::path& index) {
  auto doc = core::read_json_file(index.string(), "model.safetensors.index.json",
                                  core::ErrorCode::kModelLoadError, kIndexMaxBytes);
  const char* hint = "re-download model.safetensors.index.json from the model's repository";
  if (!doc.is_ok()) {
    r.fail("model.weights", dir, doc.status().message(), hint);
    return std::nullopt;
  }
  const auto map = doc->find("weight_map");
  if (map == doc->end() || !map->is_object() || map->empty()) {
    r.fail("model.weights", dir, "model.safetensors.index.json has no weight_map", hint);
    return std::nullopt;
  }
  std::map<std::string, std::string> out;
  for (const auto& [tensor, file] : map->items()) {
    const bool plain = file.is_string() && !file.get<std::string>().empty() &&
                       file.get<std::string>().find('/') == std::string::npos &&
                       file.get<std::string>() != "..";
    if (!plain) {
      r.fail("model.weights", dir,
             fmt::format("model.safetensors.index.json maps '{}' to something that is not a file "
                         "name in the directory",
                         tensor.substr(0, 80)),
             hint);
      return std::nullopt;
    }
    out[tensor] = file.get<std::string>();
  }
  return out;
}

// Parses every weight file; returns their total size (0 when one is broken).
std::uint64_t check_weights(Report& r, const std::string& dir) {
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  std::error_code ec;
  std::map<std::string, std::string> tensor_file;
  std::vector<std::string> files;
  if (fs::exists(index, ec)) {
    auto map = read_index(r, dir, index);
    if (!map) return 0;
    tensor_file = std::move(*map);
    std::set<std::string> names;
    for (const auto& [t, f] : tensor_file) names.insert(f);
    files.assign(names.begin(), names.end());
  } else if (fs::exists(fs::path(dir) / "model.safetensors", ec)) {
    files = {"model.safetensors"};
  } else {
    r.fail("model.weights", dir, "no model.safetensors and no model.safetensors.index.json",
           "download the weights (*.safetensors); other formats (.bin, .gguf) are not read");
    return 0;
  }

  std::vector<std::string> problems;
  std::uint64_t total = 0;
  std::size_t tensors = 0;
  std::map<std::string, std::set<std::string>> contents;
  for (const auto& name : files) {
    const fs::path path = fs::path(dir) / name;
    if (!fs::exists(path, ec)) {
      problems.push_back(fmt::format("{} is listed in the index but missing", name));
      continue;
    }
    auto file = model::SafetensorsFile::open(path.string(), name);
    if (!file.is_ok()) {
      problems.push_back(file.status().message());
      continue;
    }
    // The header's data offsets must account for the file exactly: fewer bytes
    // is a truncated download, more is a file that is not what its header says.
    const auto& map = file->mapping();
    std::uint64_t end = 8 + le64(map.data());
    for (const auto& t : file->tensors()) {
      end =
          std::max<std::uint64_t>(end, static_cast<std::uint64_t>(t.data - map.data()) + t.nbytes);
      contents[name].insert(t.name);
    }
    if (end != map.size()) {
      problems.push_back(fmt::format("{}: {} bytes on disk, but its header accounts for {}", name,
                                     map.size(), end));
    }
    tensors += file->tensors().size();
    total += map.size();
  }
  for (const auto& [tensor, name] : tensor_file) {
    const auto it = contents.find(name);
    if (it != contents.end() && it->second.count(tensor) == 0) {
      problems.push_back(fmt::format("the index puts '{}' in {}, which does not hold it",
                                     tensor.substr(0, 80), name));
    }
  }
  if (!problems.empty()) {
    std::string detail = problems.front();
    if (problems.size() > 1) detail += fmt::format(" (and {} more)", problems.size() - 1);
    r.fail("model.weights", dir, detail,
           "re-download the damaged or missing files (compare sizes with the repository's)");
    return 0;
  }
  r.pass("model.weights", dir,
         fmt::format("{} file{}, {} tensors, {}; headers parse and sizes match", files.size(),
                     files.size() == 1 ? "" : "s", tensors, format_bytes(total)));
  return total;
}

bool check_tokenizer(Report& r, const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / "tokenizer.json", ec)) {
    r.fail("model.tokenizer", dir, "no tokenizer.json",
           "copy tokenizer.json and tokenizer_config.json from the model's repository; without "
           "them only token ids can be served");
    return false;
  }
  auto tok = tokenizer::Tokenizer::load_dir(dir);
  if (!tok.is_ok()) {
    r.fail("model.tokenizer", dir, tok.status().message(),
           "re-download tokenizer.json and tokenizer_config.json from the model's repository");
    return false;
  }
  r.pass("model.tokenizer", dir,
         fmt::format("tokenizer.json loads, {} tokens", (*tok)->vocab_size()));
  return true;
}

void check_template(Report& r, const std::string& dir) {
  auto config = template_::load_chat_config(dir);
  if (!config.is_ok()) {
    r.fail("model.chat_template", dir, config.status().message(),
           "fix or re-download tokenizer_config.json / chat_template.jinja");
    return;
  }
  if (config->templates.empty()) {
    r.warn("model.chat_template", dir, "no chat template",
           "chat requests cannot be formatted: add chat_template.jinja or a chat_template in "
           "tokenizer_config.json (completions with a raw prompt still work)");
    return;
  }
  auto formatter = template_::ChatFormatter::create(std::move(config).value());
  if (!formatter.is_ok()) {
    r.fail("model.chat_template", dir, formatter.status().message(),
           "the template does not compile: use the model repository's chat_template.jinja");
    return;
  }
  template_::ChatRequest request;
  request.messages.push_back({{"role", "user"}, {"content", "Hello!"}});
  request.add_generation_prompt = true;
  auto text = formatter->render(request);
  if (!text.is_ok()) {
    r.fail("model.chat_template", dir, text.status().message(),
           "the template fails on a one-message conversation: use the model repository's "
           "chat_template.jinja");
    return;
  }
  r.pass("model.chat_template", dir,
         fmt::format("renders a one-message conversation ({} bytes)", text->size()));
}

void check_fit(Report& r, const std::string& dir, std::uint64_t weights, const Memory& m,
               std::uint64_t kv_bytes) {
  if (!m.total || !m.available) {
    r.info("model.memory", dir, "memory size unknown: fit not checked");
    return;
  }
  const std::uint64_t need = weights + kv_bytes;
  const std::string detail =
      fmt::format("weights {} + KV cache {} vs {} available of {}", format_bytes(weights),
                  format_bytes(kv_bytes), format_bytes(*m.available), format_bytes(*m.total));
  if (weights > *m.total) {
    r.fail("model.memory", dir, detail,
           "the weights are larger than this machine's memory: use a smaller or quantised model "
           "or a larger machine");
  } else if (need > *m.available) {
    r.warn("model.memory", dir, detail,
           "not enough free memory: weights will be paged from disk; free memory or lower "
           "workers.kv_memory_mb");
  } else {
    r.pass("model.memory", dir, detail);
  }
}

}  // namespace

void check_model(Report& r, const std::string& dir, const Memory& memory, std::uint64_t kv_bytes) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    r.fail("model.directory", dir, "not a directory",
           "pass the folder that holds config.json and the *.safetensors files");
    return;
  }
  check_config_json(r, dir);
  const std::uint64_t weights = check_weights(r, dir);
  if (check_tokenizer(r, dir)) check_template(r, dir);
  if (weights > 0) check_fit(r, dir, weights, memory, kv_bytes);
}

}  // namespace mlxs::cli::doctor
