#pragma once
// Reading and writing protocol structs as JSON, in one place. Every message
// struct lists its fields once, in a static `fields(self, visitor)` template;
// the reader and the writer below walk that list, so a field cannot be
// written under one name and read under another.
//
//   struct StreamStats {
//     std::string stream_id;
//     double total_time = 0;
//     template <class S, class V> static void fields(S& s, V& v) {
//       v("stream_id", s.stream_id);
//       v("total_time", s.total_time);
//     }
//   };
//
// Field types: std::string, bool, integers, double, core::Json (kept as is),
// nested described structs, std::vector<T>, std::map<std::string, T> (a JSON
// object), std::optional<T> (omitted when empty) and Nullable<T> (written as
// null when empty). Reading never throws:
// a wrong type is an InvalidParams Status naming the field's JSON pointer.
// Readers run after schema validation; their type checks are the second line.

#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"

namespace mlxs::protocol {

using core::Json;

// A field written as JSON null when empty (std::optional fields are omitted).
template <class T>
struct Nullable {
  std::optional<T> value;
  Nullable() = default;
  Nullable(T v) : value(std::move(v)) {}  // NOLINT(implicit)
  Nullable(std::nullopt_t) {}             // NOLINT(implicit)
  bool has_value() const { return value.has_value(); }
  const T& operator*() const { return *value; }
  T& operator*() { return *value; }
  bool operator==(const Nullable&) const = default;
};

namespace detail {

struct FieldProbe {
  template <class F>
  void operator()(std::string_view /*key*/, F& /*field*/) {}
};

}  // namespace detail

template <class T>
concept Described = requires(T& t, detail::FieldProbe& probe) {
  T::fields(t, probe);
};

namespace detail {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

// ---------------------------------------------------------------- writing

inline void write_value(Json& out, const std::string& v) {
  out = v;
}
inline void write_value(Json& out, bool v) {
  out = v;
}
inline void write_value(Json& out, double v) {
  out = v;
}
inline void write_value(Json& out, const Json& v) {
  out = v;
}
template <std::integral I>
requires(!std::same_as<I, bool>) void write_value(Json& out, I v) {
  out = v;
}
template <class T>
void write_value(Json& out, const std::vector<T>& v);
template <class T>
void write_value(Json& out, const std::map<std::string, T>& v);
template <class T>
void write_value(Json& out, const Nullable<T>& v);
template <Described T>
void write_value(Json& out, const T& v);

struct Writer {
  Json* obj;
  template <class F>
  void operator()(std::string_view key, const F& field) {
    if constexpr (IsOptional<F>::value) {
      if (!field.has_value()) return;
      write_value((*obj)[std::string(key)], *field);
    } else {
      write_value((*obj)[std::string(key)], field);
    }
  }
};

template <class T>
void write_value(Json& out, const std::vector<T>& v) {
  out = Json::array();
  for (const auto& item : v) {
    Json element;
    write_value(element, item);
    out.push_back(std::move(element));
  }
}

template <class T>
void write_value(Json& out, const std::map<std::string, T>& v) {
  out = Json::object();
  for (const auto& [key, item] : v) write_value(out[key], item);
}

template <class T>
void write_value(Json& out, const Nullable<T>& v) {
  if (v.value) {
    write_value(out, *v.value);
  } else {
    out = nullptr;
  }
}

template <Described T>
void write_value(Json& out, const T& v) {
  out = Json::object();
  Writer writer{&out};
  T::fields(v, writer);
}

// ---------------------------------------------------------------- reading

core::Status type_error(const std::string& path, std::string_view want, const Json& got);
core::Status range_error(const std::string& path, std::string_view want);
// A key escaped for a JSON pointer ("~" -> "~0", "/" -> "~1").
std::string pointer_token(std::string_view key);
// An exact integer of a JSON number (2.0 counts; 2.5 and non-numbers do not).
std::optional<long double> integral_value(const Json& j);

inline core::Status read_value(const Json& j, std::string& out, const std::string& path) {
  if (!j.is_string()) return type_error(path, "a string", j);
  out = j.get_ref<const std::string&>();
  return {};
}
inline core::Status read_value(const Json& j, bool& out, const std::string& path) {
  if (!j.is_boolean()) return type_error(path, "a boolean", j);
  out = j.get<bool>();
  return {};
}
inline core::Status read_value(const Json& j, double& out, const std::string& path) {
  if (!j.is_number()) return type_error(path, "a number", j);
  out = j.get<double>();
  return {};
}
inline core::Status read_value(const Json& j, Json& out, const std::string& /*path*/) {
  out = j;
  return {};
}
template <std::integral I>
requires(!std::same_as<I, bool>) core::Status
    read_value(const Json& j, I& out, const std::string& path) {
  const auto v = integral_value(j);
  if (!v) return type_error(path, "an integer", j);
  if (*v < static_cast<long double>(std::numeric_limits<I>::min()) ||
      *v > static_cast<long double>(std::numeric_limits<I>::max())) {
    return range_error(path, "an integer in range");
  }
  if (j.is_number_unsigned()) {
    out = static_cast<I>(j.get<std::uint64_t>());
  } else if (j.is_number_integer()) {
    out = static_cast<I>(j.get<std::int64_t>());
  } else {
    out = static_cast<I>(*v);
  }
  return {};
}
template <class T>
core::Status read_value(const Json& j, std::vector<T>& out, const std::string& path);
template <class T>
core::Status read_value(const Json& j, std::map<std::string, T>& out, const std::string& path);
template <class T>
core::Status read_value(const Json& j, std::optional<T>& out, const std::string& path);
template <class T>
core::Status read_value(const Json& j, Nullable<T>& out, const std::string& path);
template <Described T>
core::Status read_value(const Json& j, T& out, const std::string& path);

struct Reader {
  const Json* obj;
  const std::string* path;
  core::Status status;
  template <class F>
  void operator()(std::string_view key, F& field) {
    if (!status.is_ok()) return;
    const auto it = obj->find(key);
    if (it == obj->end()) return;
    const std::string child = *path + "/" + std::string(key);
    // null leaves a plain field at its default (the original accepts null
    // wherever a value is optional); optional and Nullable become empty.
    if (it->is_null() && !IsOptional<F>::value) return;
    status = read_value(*it, field, child);
  }
};

template <class T>
core::Status read_value(const Json& j, std::vector<T>& out, const std::string& path) {
  if (j.is_null()) {
    out.clear();
    return {};
  }
  if (!j.is_array()) return type_error(path, "an array", j);
  out.clear();
  out.reserve(j.size());
  for (std::size_t i = 0; i < j.size(); ++i) {
    T item{};
    MLXS_RETURN_IF_ERROR(read_value(j[i], item, path + "/" + std::to_string(i)));
    out.push_back(std::move(item));
  }
  return {};
}

template <class T>
core::Status read_value(const Json& j, std::map<std::string, T>& out, const std::string& path) {
  if (!j.is_object()) return type_error(path, "an object", j);
  out.clear();
  for (const auto& [key, item] : j.items()) {
    T value{};
    MLXS_RETURN_IF_ERROR(read_value(item, value, path + "/" + pointer_token(key)));
    out.emplace(key, std::move(value));
  }
  return {};
}

template <class T>
core::Status read_value(const Json& j, std::optional<T>& out, const std::string& path) {
  if (j.is_null()) {
    out.reset();
    return {};
  }
  T value{};
  MLXS_RETURN_IF_ERROR(read_value(j, value, path));
  out = std::move(value);
  return {};
}

template <class T>
core::Status read_value(const Json& j, Nullable<T>& out, const std::string& path) {
  return read_value(j, out.value, path);
}

template <Described T>
core::Status read_value(const Json& j, T& out, const std::string& path) {
  if (!j.is_object()) return type_error(path, "an object", j);
  Reader reader{&j, &path, {}};
  T::fields(out, reader);
  return reader.status;
}

}  // namespace detail

template <Described T>
Json to_json(const T& message) {
  Json out;
  detail::write_value(out, message);
  return out;
}

// `what` names the message in errors ("generate params: /max_tokens: ...").
template <Described T>
core::Result<T> from_json(const Json& j, std::string_view what = "params") {
  T out{};
  const std::string root;
  core::Status s = detail::read_value(j, out, root);
  if (!s.is_ok()) return s.with_context(what);
  return out;
}

}  // namespace mlxs::protocol
