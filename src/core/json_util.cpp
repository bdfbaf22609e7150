#include "core/json_util.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include <sys/stat.h>

namespace mlxs::core {

Result<std::string> read_file(const std::string& path, const std::string& display_name,
                              std::size_t max_bytes) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return make_error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError, "{}: {}",
                      display_name, errno == ENOENT ? "file not found" : std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    return make_error(ErrorCode::kIoError, "{}: not a regular file", display_name);
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return make_error(ErrorCode::kIoError, "{}: file is {} bytes, more than the limit of {}",
                      display_name, st.st_size, max_bytes);
  }
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return make_error(ErrorCode::kIoError, "{}: {}", display_name, std::strerror(errno));
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  const std::size_t got = std::fread(text.data(), 1, text.size(), file.get());
  text.resize(got);
  return text;
}

int json_nesting_depth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

Result<Json> parse_json(std::string_view text, const std::string& display_name, ErrorCode code,
                        int max_depth) {
  if (json_nesting_depth(text) > max_depth) {
    return make_error(code, "{}: JSON nested deeper than {} levels", display_name, max_depth);
  }
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    return make_error(code, "{}: invalid JSON at byte {}", display_name, e.byte);
  } catch (const Json::exception&) {
    return make_error(code, "{}: invalid JSON", display_name);
  }
}

Result<Json> read_json_file(const std::string& path, const std::string& display_name,
                            ErrorCode code, std::size_t max_bytes) {
  auto text = read_file(path, display_name, max_bytes);
  if (!text) return Status(code, text.status().message());
  return parse_json(*text, display_name, code);
}

namespace {

const Json* find(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Status type_error(std::string_view context, std::string_view key, std::string_view want,
                  const Json& got, ErrorCode code) {
  return make_error(code, "{}.{}: expected {}, got {}", context, key, want, json_excerpt(got));
}

}  // namespace

Result<std::optional<std::int64_t>> get_int(const Json& obj, std::string_view key,
                                            std::string_view context, ErrorCode code) {
  const Json* v = find(obj, key);
  if (v == nullptr) return std::optional<std::int64_t>();
  if (v->is_number_integer()) return std::optional<std::int64_t>(v->get<std::int64_t>());
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15) {
      return std::optional<std::int64_t>(static_cast<std::int64_t>(d));
    }
  }
  return type_error(context, key, "an integer", *v, code);
}

Result<std::optional<double>> get_number(const Json& obj, std::string_view key,
                                         std::string_view context, ErrorCode code) {
  const Json* v = find(obj, key);
  if (v == nullptr) return std::optional<double>();
  if (v->is_number()) return std::optional<double>(v->get<double>());
  return type_error(context, key, "a number", *v, code);
}

Result<std::optional<bool>> get_bool(const Json& obj, std::string_view key,
                                     std::string_view context, ErrorCode code) {
  const Json* v = find(obj, key);
  if (v == nullptr) return std::optional<bool>();
  if (v->is_boolean()) return std::optional<bool>(v->get<bool>());
  return type_error(context, key, "a boolean", *v, code);
}

Result<std::optional<std::string>> get_string(const Json& obj, std::string_view key,
                                              std::string_view context, ErrorCode code) {
  const Json* v = find(obj, key);
  if (v == nullptr) return std::optional<std::string>();
  if (v->is_string()) return std::optional<std::string>(v->get<std::string>());
  return type_error(context, key, "a string", *v, code);
}

std::string json_excerpt(const Json& value, std::size_t max_chars) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > max_chars) {
    text.resize(max_chars);
    text += "...";
  }
  return text;
}

void append_python_json(const nlohmann::ordered_json& value, std::string& out) {
  if (value.is_object()) {
    out += "{";
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      out += nlohmann::ordered_json(it.key()).dump();
      out += ": ";
      append_python_json(it.value(), out);
    }
    out += "}";
  } else if (value.is_array()) {
    out += "[";
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i > 0) out += ", ";
      append_python_json(value[i], out);
    }
    out += "]";
  } else {
    out += value.dump();
  }
}

}  // namespace mlxs::core
