#include "control/yaml_json.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <regex>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace mlxs::control {

using core::Json;

namespace {

constexpr int kMaxDepth = 64;
// Aliases can make a small file expand to a huge document: bound the values.
constexpr std::size_t kMaxValues = 1'000'000;

// The YAML 1.2 core schema's resolution of a plain scalar.
Json plain_scalar(const std::string& s) {
  static const std::regex kInt(R"([-+]?[0-9]+)");
  static const std::regex kHex(R"(0x[0-9a-fA-F]+)");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (std::regex_match(s, kInt)) {
    errno = 0;
    const long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno == 0) return v;
  }
  if (std::regex_match(s, kHex)) return std::strtoll(s.c_str(), nullptr, 16);
  if (std::regex_match(s, kFloat)) return std::strtod(s.c_str(), nullptr);
  if (s == ".inf" || s == ".nan" || s == "-.inf") return s;  // JSON has no such numbers
  return s;
}

core::Status convert(const YAML::Node& node, Json& out, int depth, const std::string& name,
                     std::size_t& values) {
  if (++values > kMaxValues) {
    return core::Status(core::ErrorCode::kConfigError,
                        fmt::format("{}: more than {} values", name, kMaxValues));
  }
  if (depth > kMaxDepth) {
    return core::Status(core::ErrorCode::kConfigError,
                        fmt::format("{}: nested deeper than {} levels", name, kMaxDepth));
  }
  const auto where = [&] {
    return fmt::format("{}:{}:{}", name, node.Mark().line + 1, node.Mark().column + 1);
  };
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out = nullptr;
      return {};
    case YAML::NodeType::Scalar:
      out = node.Tag() == "!" ? Json(node.Scalar()) : plain_scalar(node.Scalar());
      return {};
    case YAML::NodeType::Sequence:
      out = Json::array();
      for (const auto& item : node) {
        Json v;
        MLXS_RETURN_IF_ERROR(convert(item, v, depth + 1, name, values));
        out.push_back(std::move(v));
      }
      return {};
    case YAML::NodeType::Map:
      out = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return core::Status(core::ErrorCode::kConfigError,
                              where() + ": keys must be plain strings");
        }
        const std::string key = kv.first.Scalar();
        if (out.contains(key)) {
          return core::Status(core::ErrorCode::kConfigError,
                              fmt::format("{}: key '{}' appears twice", where(), key));
        }
        MLXS_RETURN_IF_ERROR(convert(kv.second, out[key], depth + 1, name, values));
      }
      return {};
  }
  return core::Status(core::ErrorCode::kConfigError, where() + ": unsupported YAML node");
}

}  // namespace

core::Result<Json> yaml_to_json(std::string_view text, const std::string& display_name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return core::Status(core::ErrorCode::kConfigError,
                        fmt::format("{}:{}:{}: invalid YAML: {}", display_name, e.mark.line + 1,
                                    e.mark.column + 1, e.msg));
  }
  Json out;
  std::size_t values = 0;
  MLXS_RETURN_IF_ERROR(convert(root, out, 0, display_name, values));
  if (out.is_null()) return Json::object();
  if (!out.is_object()) {
    return core::Status(core::ErrorCode::kConfigError,
                        display_name + ": the document must be a mapping of sections");
  }
  return out;
}

Json scalar_value(std::string_view text) {
  const std::string s(text);
  if (!s.empty() &&
      (s.front() == '[' || s.front() == '{' || s.front() == '"' || s.front() == '\'')) {
    auto parsed = yaml_to_json("v: " + s, "value");
    if (parsed.is_ok() && parsed->contains("v")) return (*parsed)["v"];
  }
  return plain_scalar(s);
}

}  // namespace mlxs::control
