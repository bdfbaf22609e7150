// One Node from the keywords of one schema object: checks each keyword's
// value (a bad schema is an error naming its location) and compiles its
// subschemas and regexes. Unknown keywords are ignored, as the drafts say.

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "schema/compiler.h"
#include "schema/format.h"
#include "schema/json_value.h"

namespace mlxs::schema::detail {
namespace {

using core::Json;

std::optional<std::uint8_t> type_bit(std::string_view name) {
  if (name == "null") return kTypeNull;
  if (name == "boolean") return kTypeBoolean;
  if (name == "object") return kTypeObject;
  if (name == "array") return kTypeArray;
  if (name == "number") return kTypeNumber;
  if (name == "string") return kTypeString;
  if (name == "integer") return kTypeInteger;
  return std::nullopt;
}

const Json* find(const Json& v, std::string_view key) {
  const auto it = v.find(key);
  return it == v.end() ? nullptr : &*it;
}

bool is_schema_value(const Json& v) {
  return v.is_object() || v.is_boolean();
}

// Everything a keyword needs to compile its value.
class KeywordReader {
 public:
  KeywordReader(Compiler& c, const Json& v, const Location& loc, int depth)
      : c_(c), v_(v), loc_(loc), depth_(depth) {}

  const Json* get(std::string_view key) const { return find(v_, key); }
  std::string where(std::string_view key) const { return c_.where(loc_, key); }
  core::Status error(std::string_view key, std::string_view what) const {
    return c_.error(where(key), what);
  }

  core::Status non_negative(std::string_view key, std::optional<std::uint64_t>& out) const {
    const Json* v = get(key);
    if (v == nullptr) return core::Status::ok();
    if (!v->is_number() || !is_integer_value(*v) || compare_numbers(*v, Json(0)) < 0) {
      return error(key, "must be a non-negative integer");
    }
    if (v->is_number_float()) {
      const double d = v->get<double>();
      out = d >= 1.8e19 ? std::numeric_limits<std::uint64_t>::max() : static_cast<std::uint64_t>(d);
    } else {
      out = v->get<std::uint64_t>();
    }
    return core::Status::ok();
  }

  core::Status number(std::string_view key, std::optional<Json>& out) const {
    const Json* v = get(key);
    if (v == nullptr) return core::Status::ok();
    if (!v->is_number()) return error(key, "must be a number");
    out = *v;
    return core::Status::ok();
  }

  core::Status string(std::string_view key, std::string& out) const {
    const Json* v = get(key);
    if (v == nullptr) return core::Status::ok();
    if (!v->is_string()) return error(key, "must be a string");
    out = v->get<std::string>();
    return core::Status::ok();
  }

  core::Status string_array(std::string_view key, const Json& v,
                            std::vector<std::string>& out) const {
    if (!v.is_array()) return error(key, "must be an array of strings");
    for (const Json& s : v) {
      if (!s.is_string()) return error(key, "must be an array of strings");
      out.push_back(s.get<std::string>());
    }
    return core::Status::ok();
  }

  core::Status schema(std::string_view key, NodeId& out) {
    const Json* v = get(key);
    if (v == nullptr) return core::Status::ok();
    if (!is_schema_value(*v)) return error(key, "must be a schema (an object or a boolean)");
    MLXS_ASSIGN_OR_RETURN(out, c_.child(loc_, key, depth_));
    return core::Status::ok();
  }

  core::Status schema_array(std::string_view key, std::vector<NodeId>& out, bool allow_empty) {
    const Json* v = get(key);
    if (v == nullptr) return core::Status::ok();
    if (!v->is_array() || (!allow_empty && v->empty())) {
      return error(key, allow_empty ? "must be an array of schemas"
                                    : "must be a non-empty array of schemas");
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
      if (!is_schema_value((*v)[i])) {
        return c_.error(where(key) + "/" + std::to_string(i),
                        "must be a schema (an object or a boolean)");
      }
      MLXS_ASSIGN_OR_RETURN(const NodeId id, c_.child(loc_, key, std::to_string(i), depth_));
      out.push_back(id);
    }
    return core::Status::ok();
  }

  // {"name": schema, …} in key order.
  core::Status schema_map(std::string_view key, std::vector<std::pair<std::string, NodeId>>& out) {
    const Json* v = get(key);
    if (v == nullptr) return core::Status::ok();
    if (!v->is_object()) return error(key, "must be an object of schemas");
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!is_schema_value(it.value())) {
        return error(key, fmt::format("member '{}' must be a schema", it.key()));
      }
      MLXS_ASSIGN_OR_RETURN(const NodeId id, c_.child(loc_, key, it.key(), depth_));
      out.emplace_back(it.key(), id);
    }
    return core::Status::ok();
  }

  core::Result<Regex> regex(std::string_view key, const std::string& pattern) const {
    return c_.regex(where(key), pattern);
  }

  core::Result<NodeId> member_schema(std::string_view key, const std::string& member) {
    return c_.child(loc_, key, member, depth_);
  }

 private:
  Compiler& c_;
  const Json& v_;
  const Location& loc_;
  int depth_;
};

core::Status read_validation(Node& n, KeywordReader& r, const Dialect& dialect) {
  if (const Json* t = r.get("type")) {
    const auto add = [&](const Json& name) -> core::Status {
      const auto bit =
          name.is_string() ? type_bit(name.get_ref<const std::string&>()) : std::nullopt;
      if (!bit)
        return r.error(
            "type", "must name JSON types (null, boolean, object, array, number, string, integer)");
      n.types = static_cast<std::uint8_t>(n.types | *bit);
      return core::Status::ok();
    };
    if (t->is_array()) {
      if (t->empty()) return r.error("type", "must not be an empty array");
      for (const Json& name : *t) MLXS_RETURN_IF_ERROR(add(name));
    } else {
      MLXS_RETURN_IF_ERROR(add(*t));
    }
  }
  if (const Json* e = r.get("enum")) {
    if (!e->is_array()) return r.error("enum", "must be an array");
    n.enum_values = e->get<std::vector<Json>>();
  }
  if (const Json* c = r.get("const")) n.const_value = *c;

  MLXS_RETURN_IF_ERROR(r.number("minimum", n.minimum));
  MLXS_RETURN_IF_ERROR(r.number("maximum", n.maximum));
  // Draft 4's boolean exclusiveMinimum/Maximum modify minimum/maximum.
  for (const bool upper : {false, true}) {
    const char* key = upper ? "exclusiveMaximum" : "exclusiveMinimum";
    std::optional<Json>& bound = upper ? n.maximum : n.minimum;
    std::optional<Json>& exclusive = upper ? n.exclusive_maximum : n.exclusive_minimum;
    const Json* v = r.get(key);
    if (v != nullptr && v->is_boolean() && dialect.draft == Draft::kDraft7) {
      if (v->get<bool>() && bound) exclusive = std::move(bound), bound.reset();
    } else {
      MLXS_RETURN_IF_ERROR(r.number(key, exclusive));
    }
  }
  MLXS_RETURN_IF_ERROR(r.number("multipleOf", n.multiple_of));
  if (n.multiple_of && compare_numbers(*n.multiple_of, Json(0)) <= 0) {
    return r.error("multipleOf", "must be a number greater than 0");
  }

  MLXS_RETURN_IF_ERROR(r.non_negative("minLength", n.min_length));
  MLXS_RETURN_IF_ERROR(r.non_negative("maxLength", n.max_length));
  if (const Json* p = r.get("pattern")) {
    if (!p->is_string()) return r.error("pattern", "must be a string");
    MLXS_ASSIGN_OR_RETURN(n.pattern, r.regex("pattern", p->get<std::string>()));
  }

  MLXS_RETURN_IF_ERROR(r.non_negative("minItems", n.min_items));
  MLXS_RETURN_IF_ERROR(r.non_negative("maxItems", n.max_items));
  if (const Json* u = r.get("uniqueItems")) {
    if (!u->is_boolean()) return r.error("uniqueItems", "must be a boolean");
    n.unique_items = u->get<bool>();
  }
  if (dialect.draft != Draft::kDraft7) {
    MLXS_RETURN_IF_ERROR(r.non_negative("minContains", n.min_contains));
    MLXS_RETURN_IF_ERROR(r.non_negative("maxContains", n.max_contains));
  }

  MLXS_RETURN_IF_ERROR(r.non_negative("minProperties", n.min_properties));
  MLXS_RETURN_IF_ERROR(r.non_negative("maxProperties", n.max_properties));
  if (const Json* req = r.get("required")) {
    MLXS_RETURN_IF_ERROR(r.string_array("required", *req, n.required));
  }
  if (dialect.draft != Draft::kDraft7) {
    if (const Json* dr = r.get("dependentRequired")) {
      if (!dr->is_object())
        return r.error("dependentRequired", "must be an object of string arrays");
      for (auto it = dr->begin(); it != dr->end(); ++it) {
        std::vector<std::string> names;
        MLXS_RETURN_IF_ERROR(r.string_array("dependentRequired", it.value(), names));
        n.dependent_required.emplace_back(it.key(), std::move(names));
      }
    }
  }
  // "dependencies" (draft 7; accepted later too): the array members.
  if (const Json* deps = r.get("dependencies"); deps != nullptr && deps->is_object()) {
    for (auto it = deps->begin(); it != deps->end(); ++it) {
      if (!it.value().is_array()) continue;
      std::vector<std::string> names;
      MLXS_RETURN_IF_ERROR(r.string_array("dependencies", it.value(), names));
      n.dependent_required.emplace_back(it.key(), std::move(names));
    }
  }

  return core::Status::ok();
}

// The format and content vocabularies (separate from validation in 2020-12).
core::Status read_format_content(Node& n, KeywordReader& r, const Dialect& dialect,
                                 const CompileOptions& options) {
  MLXS_RETURN_IF_ERROR(r.string("format", n.format));
  if (!n.format.empty() && (options.format_assertion || dialect.format_assertion)) {
    n.format_checker = find_format_checker(n.format);
  }
  MLXS_RETURN_IF_ERROR(r.string("contentEncoding", n.content_encoding));
  MLXS_RETURN_IF_ERROR(r.string("contentMediaType", n.content_media_type));
  n.content_asserted =
      options.content_assertion && (!n.content_encoding.empty() || !n.content_media_type.empty());
  return core::Status::ok();
}

core::Status read_applicators(Node& n, KeywordReader& r, const Dialect& dialect) {
  const bool legacy_items = dialect.draft != Draft::kDraft2020_12;
  MLXS_RETURN_IF_ERROR(r.schema_array("allOf", n.all_of, false));
  MLXS_RETURN_IF_ERROR(r.schema_array("anyOf", n.any_of, false));
  MLXS_RETURN_IF_ERROR(r.schema_array("oneOf", n.one_of, false));
  MLXS_RETURN_IF_ERROR(r.schema("not", n.not_schema));
  if (r.get("if") != nullptr) {
    MLXS_RETURN_IF_ERROR(r.schema("if", n.if_schema));
    MLXS_RETURN_IF_ERROR(r.schema("then", n.then_schema));
    MLXS_RETURN_IF_ERROR(r.schema("else", n.else_schema));
  }

  // Arrays. The array form of "items" is draft 7's tuple (accepted in
  // 2020-12 too when there is no prefixItems, for older documents).
  const Json* items = r.get("items");
  const bool tuple =
      items != nullptr && items->is_array() && (legacy_items || r.get("prefixItems") == nullptr);
  if (tuple) {
    MLXS_RETURN_IF_ERROR(r.schema_array("items", n.prefix_items, true));
    MLXS_RETURN_IF_ERROR(r.schema("additionalItems", n.items));
  } else {
    if (!legacy_items) MLXS_RETURN_IF_ERROR(r.schema_array("prefixItems", n.prefix_items, false));
    MLXS_RETURN_IF_ERROR(r.schema("items", n.items));
  }
  MLXS_RETURN_IF_ERROR(r.schema("contains", n.contains));

  // Objects.
  MLXS_RETURN_IF_ERROR(r.schema_map("properties", n.properties));
  if (const Json* pp = r.get("patternProperties")) {
    if (!pp->is_object()) return r.error("patternProperties", "must be an object of schemas");
    for (auto it = pp->begin(); it != pp->end(); ++it) {
      if (!is_schema_value(it.value())) {
        return r.error("patternProperties", fmt::format("member '{}' must be a schema", it.key()));
      }
      MLXS_ASSIGN_OR_RETURN(Regex re, r.regex("patternProperties", it.key()));
      MLXS_ASSIGN_OR_RETURN(const NodeId id, r.member_schema("patternProperties", it.key()));
      n.pattern_properties.push_back(PatternSchema{std::move(re), id});
    }
  }
  MLXS_RETURN_IF_ERROR(r.schema("additionalProperties", n.additional_properties));
  MLXS_RETURN_IF_ERROR(r.schema("propertyNames", n.property_names));
  if (dialect.draft != Draft::kDraft7) {
    MLXS_RETURN_IF_ERROR(r.schema_map("dependentSchemas", n.dependent_schemas));
  }
  if (const Json* deps = r.get("dependencies")) {
    if (!deps->is_object()) return r.error("dependencies", "must be an object");
    for (auto it = deps->begin(); it != deps->end(); ++it) {
      if (it.value().is_array()) continue;  // read with the validation keywords
      if (!is_schema_value(it.value())) {
        return r.error("dependencies",
                       fmt::format("member '{}' must be a schema or an array", it.key()));
      }
      MLXS_ASSIGN_OR_RETURN(const NodeId id, r.member_schema("dependencies", it.key()));
      n.dependent_schemas.emplace_back(it.key(), id);
    }
  }
  return core::Status::ok();
}

}  // namespace

core::Status Compiler::fill(Node& n, NodeId id, const Json& v, const Location& loc,
                            const Site& site, int depth) {
  const Dialect& dialect = site.dialect;
  KeywordReader r(*this, v, loc, depth);

  if (const Json* ref = r.get("$ref")) {
    MLXS_RETURN_IF_ERROR(add_ref(id, *ref, r.where("$ref"), site, false));
    if (dialect.draft == Draft::kDraft7) return core::Status::ok();  // siblings ignored
  }
  if (dialect.draft == Draft::kDraft2020_12) {
    if (const Json* dyn = r.get("$dynamicRef")) {
      MLXS_RETURN_IF_ERROR(add_ref(id, *dyn, r.where("$dynamicRef"), site, true));
    }
  } else if (dialect.draft == Draft::kDraft2019_09) {
    // $recursiveRef is read as a plain $ref (2019-09 is supported only as
    // far as documents of other drafts need it).
    if (const Json* rec = r.get("$recursiveRef"); rec != nullptr && r.get("$ref") == nullptr) {
      MLXS_RETURN_IF_ERROR(add_ref(id, *rec, r.where("$recursiveRef"), site, false));
    }
  }

  if (dialect.validation) MLXS_RETURN_IF_ERROR(read_validation(n, r, dialect));
  MLXS_RETURN_IF_ERROR(read_format_content(n, r, dialect, options()));
  if (dialect.applicator) MLXS_RETURN_IF_ERROR(read_applicators(n, r, dialect));
  if (dialect.unevaluated && dialect.draft != Draft::kDraft7) {
    MLXS_RETURN_IF_ERROR(r.schema("unevaluatedItems", n.unevaluated_items));
    MLXS_RETURN_IF_ERROR(r.schema("unevaluatedProperties", n.unevaluated_properties));
  }

  if (const Json* t = r.get("title"); t != nullptr && t->is_string())
    n.title = t->get<std::string>();
  if (const Json* d = r.get("description"); d != nullptr && d->is_string()) {
    n.description = d->get<std::string>();
  }
  if (const Json* d = r.get("default")) n.default_value = *d;
  return core::Status::ok();
}

}  // namespace mlxs::schema::detail
