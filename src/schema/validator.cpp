// The evaluator: one recursive walk of (node, instance) pairs. Errors are
// built only where they are reported: subschemas whose failures do not count
// on their own (anyOf branches, not, if, contains) run silently and stop at
// their first failure. Annotations for unevaluated* are tracked only when the
// schema has such a keyword: one flag per member/element of the instance at
// hand, merged from subschemas that succeed.

#include "schema/validator.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "schema/excerpt.h"
#include "schema/format.h"
#include "schema/json_value.h"
#include "schema/uri.h"
#include "schema/utf8.h"

namespace mlxs::schema {
namespace {

using core::Json;

// Evaluated members (objects, in iteration order) or elements (arrays).
struct Marks {
  std::vector<char> done;
  void merge(const Marks& other) {
    for (std::size_t i = 0; i < done.size(); ++i)
      done[i] = static_cast<char>(done[i] | other.done[i]);
  }
};

std::string type_names(std::uint8_t bits) {
  static constexpr std::pair<std::uint8_t, const char*> kNames[] = {
      {kTypeNull, "null"},      {kTypeBoolean, "boolean"}, {kTypeObject, "object"},
      {kTypeArray, "array"},    {kTypeNumber, "number"},   {kTypeString, "string"},
      {kTypeInteger, "integer"}};
  std::string out;
  int count = 0;
  for (const auto& [bit, name] : kNames) {
    if ((bits & bit) == 0) continue;
    if (count++ > 0) out += ", ";
    out += name;
  }
  return count > 1 ? "one of [" + out + "]" : out;
}

bool type_matches(std::uint8_t bits, const Json& v) {
  if (v.is_null()) return (bits & kTypeNull) != 0;
  if (v.is_boolean()) return (bits & kTypeBoolean) != 0;
  if (v.is_object()) return (bits & kTypeObject) != 0;
  if (v.is_array()) return (bits & kTypeArray) != 0;
  if (v.is_string()) return (bits & kTypeString) != 0;
  if (v.is_number()) {
    return (bits & kTypeNumber) != 0 || ((bits & kTypeInteger) != 0 && is_integer_value(v));
  }
  return false;
}

class Evaluator {
 public:
  Evaluator(const Schema::Compiled& s, ValidationResult* out) : s_(s), out_(out) {}

  bool run(const Json& instance) {
    const bool ok = eval(s_.root, instance, nullptr, out_ != nullptr);
    return ok && !aborted_;
  }

 private:
  struct Segment {
    const std::string* key;  // null: an array index
    std::size_t index;
  };

  // ---------------------------------------------------------------- errors
  // At least one, so that an invalid result always carries an error.
  std::size_t max_errors() const { return std::max<std::size_t>(1, s_.options.max_errors); }

  std::string instance_path() const {
    std::string p;
    for (const Segment& s : path_) {
      if (s.key != nullptr) {
        append_pointer_token(p, *s.key);
      } else {
        p += "/" + std::to_string(s.index);
      }
    }
    return p;
  }

  // An error of `keyword` in node `n` (its location + "/keyword").
  void emit(const Node& n, std::string_view keyword, std::string message) {
    std::string schema_path = n.location;
    if (keyword != "false") append_pointer_token(schema_path, keyword);
    emit_at(std::move(schema_path), keyword, std::move(message));
  }

  void emit_at(std::string schema_path, std::string_view keyword, std::string message) {
    if (out_ == nullptr) return;
    if (out_->errors.size() >= max_errors()) {
      out_->truncated = true;
      return;
    }
    if (property_name_depth_ > 0) message = "property name " + message;
    out_->errors.push_back(ValidationError{instance_path(), std::move(schema_path),
                                           std::string(keyword), one_line(message)});
  }

  // Stops the whole evaluation (work or depth bound), reported once.
  bool abort(const Node& n, std::string message) {
    if (!aborted_ && out_ != nullptr) {
      out_->errors.push_back(
          ValidationError{instance_path(), n.location, "limit", std::move(message)});
    }
    aborted_ = true;
    return false;
  }

  // Work accounting: one step per evaluation, plus the bulk work a single
  // keyword can do (regex matching, enum scans), so that a hostile schema and
  // instance together cannot buy unbounded time.
  bool charge(std::uint64_t steps, const Node& n) {
    steps_ += steps;
    if (steps_ <= s_.options.max_eval_steps) return true;
    return abort(n, fmt::format("validation stopped after {} steps (schema too costly for this "
                                "instance)",
                                s_.options.max_eval_steps));
  }

  // A regex search visits at most (code points x instructions) states; a
  // step is worth about a hundred of them.
  bool search(const Regex& re, const std::string& text, const Node& n) {
    if (!charge(text.size() * re.program().size() / 100, n)) return false;
    return re.search(text);
  }

  // ------------------------------------------------------------ traversal
  // A subschema applied to a child of the instance: a `false` schema fails
  // with the parent keyword's code (additionalProperties, items, …).
  bool apply_child(NodeId id, const Json& value, bool report, std::string_view keyword,
                   const char* false_message) {
    const Node& c = s_.nodes[id];
    if (c.boolean) {
      if (*c.boolean) return true;
      if (report) emit_at(c.location, keyword, false_message);  // the false schema's own path
      return false;
    }
    return eval(id, value, nullptr, report);
  }

  bool eval(NodeId id, const Json& inst, Marks* marks_out, bool report) {
    const Node& n = s_.nodes[id];
    if (aborted_) return false;
    if (!charge(1, n)) return false;
    if (n.boolean) {
      if (!*n.boolean && report) emit(n, "false", "no value is allowed here");
      return *n.boolean;
    }
    if (depth_ >= s_.options.max_eval_depth) {
      return abort(n, fmt::format("validation nested deeper than {} levels (a $ref cycle or a "
                                  "too deeply nested instance)",
                                  s_.options.max_eval_depth));
    }
    ++depth_;
    const bool pushed = scope_.empty() || scope_.back() != n.resource;
    if (pushed) scope_.push_back(n.resource);

    // This node's marks: the caller's, or its own when it reads them (an
    // unevaluated* keyword sees only its own subschemas' annotations, not
    // those of its siblings under a common parent).
    Marks local;
    Marks* marks = marks_out;
    const bool container = inst.is_object() || inst.is_array();
    const bool reads_marks = n.unevaluated_properties != kNoNode || n.unevaluated_items != kNoNode;
    if (container && reads_marks) {
      local.done.assign(inst.size(), 0);
      marks = &local;
    }
    const bool ok = eval_keywords(n, inst, marks, report);
    if (ok && marks_out != nullptr && marks == &local) marks_out->merge(local);

    if (pushed) scope_.pop_back();
    --depth_;
    return ok && !aborted_;
  }

  Marks fresh(const Json& inst) const {
    Marks m;
    m.done.assign(inst.size(), 0);
    return m;
  }

  // ------------------------------------------------------------- keywords
  bool eval_keywords(const Node& n, const Json& inst, Marks* marks, bool report) {
    bool ok = true;
    // Once invalid, a silent evaluation has nothing more to learn.
    const auto done = [&]() { return aborted_ || (!ok && !report); };

    if (n.ref != kNoNode) {
      ok = eval(n.ref, inst, marks, report) && ok;
      if (done()) return false;
    }
    if (n.dynamic_ref != kNoNode) {
      ok = eval(dynamic_target(n), inst, marks, report) && ok;
      if (done()) return false;
    }
    if (n.types != 0 && !type_matches(n.types, inst)) {
      ok = false;
      if (report) {
        emit(n, "type",
             fmt::format("expected {}, got {}", type_names(n.types), json_type_name(inst)));
      }
      if (done()) return false;
    }
    if (n.enum_values) {
      const auto& values = *n.enum_values;
      const auto match = std::find_if(values.begin(), values.end(),
                                      [&](const Json& v) { return json_equal(v, inst); });
      const bool found = match != values.end();
      if (!charge(static_cast<std::uint64_t>(match - values.begin()) / 16, n)) return false;
      if (!found) {
        ok = false;
        if (report) emit(n, "enum", "must be one of " + json_excerpt(values));
        if (done()) return false;
      }
    }
    if (n.const_value && !json_equal(*n.const_value, inst)) {
      ok = false;
      if (report) emit(n, "const", "must be equal to " + json_excerpt(*n.const_value));
      if (done()) return false;
    }

    if (inst.is_number()) {
      ok = eval_number(n, inst, report) && ok;
    } else if (inst.is_string()) {
      ok = eval_string(n, inst.get_ref<const std::string&>(), report) && ok;
    } else if (inst.is_array()) {
      ok = eval_array(n, inst, marks, report) && ok;
    } else if (inst.is_object()) {
      ok = eval_object(n, inst, marks, report) && ok;
    }
    if (done()) return false;

    ok = eval_in_place(n, inst, marks, report) && ok;
    if (done()) return false;

    if (n.unevaluated_items != kNoNode && inst.is_array() && marks != nullptr) {
      for (std::size_t i = 0; i < inst.size() && !done(); ++i) {
        if (marks->done[i] != 0) continue;
        path_.push_back({nullptr, i});
        ok = apply_child(n.unevaluated_items, inst[i], report, "unevaluatedItems",
                         "unevaluated item is not allowed") &&
             ok;
        path_.pop_back();
      }
      std::fill(marks->done.begin(), marks->done.end(), 1);
    }
    if (n.unevaluated_properties != kNoNode && inst.is_object() && marks != nullptr) {
      std::size_t i = 0;
      for (auto it = inst.begin(); it != inst.end() && !done(); ++it, ++i) {
        if (marks->done[i] != 0) continue;
        path_.push_back({&it.key(), 0});
        ok = apply_child(n.unevaluated_properties, it.value(), report, "unevaluatedProperties",
                         "unevaluated property is not allowed") &&
             ok;
        path_.pop_back();
      }
      std::fill(marks->done.begin(), marks->done.end(), 1);
    }
    return ok && !aborted_;
  }

  // The outermost resource of the dynamic scope that defines the anchor.
  NodeId dynamic_target(const Node& n) const {
    if (n.dynamic_ref_anchor.empty()) return n.dynamic_ref;
    for (std::uint32_t r : scope_) {
      for (const auto& [name, node] : s_.resources[r].dynamic_anchors) {
        if (name == n.dynamic_ref_anchor) return node;
      }
    }
    return n.dynamic_ref;
  }

  bool eval_number(const Node& n, const Json& inst, bool report) {
    bool ok = true;
    const auto check = [&](const std::optional<Json>& bound, bool pass, std::string_view keyword,
                           std::string_view relation) {
      if (!bound || pass) return;
      ok = false;
      if (report) emit(n, keyword, fmt::format("must be {} {}", relation, json_excerpt(*bound)));
    };
    check(n.minimum, !n.minimum || compare_numbers(inst, *n.minimum) >= 0, "minimum", ">=");
    check(n.maximum, !n.maximum || compare_numbers(inst, *n.maximum) <= 0, "maximum", "<=");
    check(n.exclusive_minimum,
          !n.exclusive_minimum || compare_numbers(inst, *n.exclusive_minimum) > 0,
          "exclusiveMinimum", ">");
    check(n.exclusive_maximum,
          !n.exclusive_maximum || compare_numbers(inst, *n.exclusive_maximum) < 0,
          "exclusiveMaximum", "<");
    if (n.multiple_of && !is_multiple_of(inst, *n.multiple_of)) {
      ok = false;
      if (report) emit(n, "multipleOf", "must be a multiple of " + json_excerpt(*n.multiple_of));
    }
    return ok;
  }

  bool eval_string(const Node& n, const std::string& s, bool report) {
    bool ok = true;
    if (n.min_length || n.max_length) {
      const std::size_t len = utf8::count_code_points(s);
      if (n.min_length && len < *n.min_length) {
        ok = false;
        if (report)
          emit(n, "minLength", fmt::format("must be at least {} characters long", *n.min_length));
      }
      if (n.max_length && len > *n.max_length) {
        ok = false;
        if (report)
          emit(n, "maxLength", fmt::format("must be at most {} characters long", *n.max_length));
      }
    }
    if (n.pattern && !search(*n.pattern, s, n)) {
      if (aborted_) return false;
      ok = false;
      if (report)
        emit(n, "pattern", fmt::format("does not match pattern '{}'", n.pattern->pattern()));
    }
    if (n.format_checker != nullptr && !n.format_checker(s)) {
      ok = false;
      if (report) emit(n, "format", fmt::format("is not a valid {}", n.format));
    }
    if (n.content_asserted && !check_content(s, n.content_encoding, n.content_media_type)) {
      ok = false;
      if (report) {
        const std::string& what =
            n.content_media_type.empty() ? n.content_encoding : n.content_media_type;
        emit(n, n.content_media_type.empty() ? "contentEncoding" : "contentMediaType",
             fmt::format("is not valid {} content", what));
      }
    }
    return ok;
  }

  bool eval_array(const Node& n, const Json& inst, Marks* marks, bool report) {
    bool ok = true;
    const std::size_t size = inst.size();
    const auto done = [&]() { return aborted_ || (!ok && !report); };
    if (n.min_items && size < *n.min_items) {
      ok = false;
      if (report) emit(n, "minItems", fmt::format("must have at least {} items", *n.min_items));
    }
    if (n.max_items && size > *n.max_items) {
      ok = false;
      if (report) emit(n, "maxItems", fmt::format("must have at most {} items", *n.max_items));
    }
    if (done()) return false;
    if (n.unique_items && size > 1) {
      std::vector<std::size_t> order(size);
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return json_compare(inst[a], inst[b]) < 0;
      });
      for (std::size_t k = 1; k < size; ++k) {
        if (json_compare(inst[order[k - 1]], inst[order[k]]) == 0) {
          ok = false;
          if (report) {
            emit(n, "uniqueItems",
                 fmt::format("items at indices {} and {} are equal",
                             std::min(order[k - 1], order[k]), std::max(order[k - 1], order[k])));
          }
          break;
        }
      }
      if (done()) return false;
    }
    const std::size_t prefix = std::min(size, n.prefix_items.size());
    for (std::size_t i = 0; i < prefix && !done(); ++i) {
      path_.push_back({nullptr, i});
      ok = apply_child(n.prefix_items[i], inst[i], report, "prefixItems", "item is not allowed") &&
           ok;
      path_.pop_back();
      if (marks != nullptr) marks->done[i] = 1;
    }
    if (n.items != kNoNode) {
      for (std::size_t i = prefix; i < size && !done(); ++i) {
        path_.push_back({nullptr, i});
        ok = apply_child(n.items, inst[i], report, "items",
                         "item is not allowed (too many items)") &&
             ok;
        path_.pop_back();
        if (marks != nullptr) marks->done[i] = 1;
      }
    }
    if (done()) return false;
    if (n.contains != kNoNode) {
      std::uint64_t count = 0;
      const std::uint64_t min = n.min_contains.value_or(1);
      for (std::size_t i = 0; i < size && !aborted_; ++i) {
        path_.push_back({nullptr, i});
        const bool match = eval(n.contains, inst[i], nullptr, false);
        path_.pop_back();
        if (!match) continue;
        ++count;
        if (marks != nullptr) marks->done[i] = 1;
        // Without annotations or maxContains, enough matches settle it.
        if (marks == nullptr && !n.max_contains && count >= min) break;
      }
      if (count < min) {
        ok = false;
        if (report) {
          emit(n, n.min_contains ? "minContains" : "contains",
               fmt::format("must contain at least {} item(s) matching the 'contains' schema", min));
        }
      }
      if (n.max_contains && count > *n.max_contains) {
        ok = false;
        if (report) {
          emit(n, "maxContains",
               fmt::format("must contain at most {} item(s) matching the "
                           "'contains' schema",
                           *n.max_contains));
        }
      }
    }
    return ok;
  }

  bool eval_object(const Node& n, const Json& inst, Marks* marks, bool report) {
    bool ok = true;
    const auto done = [&]() { return aborted_ || (!ok && !report); };
    const std::size_t size = inst.size();
    if (n.min_properties && size < *n.min_properties) {
      ok = false;
      if (report)
        emit(n, "minProperties",
             fmt::format("must have at least {} properties", *n.min_properties));
    }
    if (n.max_properties && size > *n.max_properties) {
      ok = false;
      if (report)
        emit(n, "maxProperties", fmt::format("must have at most {} properties", *n.max_properties));
    }
    for (const std::string& name : n.required) {
      if (done()) return false;
      if (inst.contains(name)) continue;
      ok = false;
      if (report) emit(n, "required", fmt::format("missing required property '{}'", name));
    }
    for (const auto& [name, names] : n.dependent_required) {
      if (done()) return false;
      if (!inst.contains(name)) continue;
      for (const std::string& other : names) {
        if (inst.contains(other)) continue;
        ok = false;
        if (report) {
          emit(n, "dependentRequired",
               fmt::format("property '{}' is required when '{}' is present", other, name));
        }
      }
    }
    if (done()) return false;

    const bool member_keywords = !n.properties.empty() || !n.pattern_properties.empty() ||
                                 n.additional_properties != kNoNode || n.property_names != kNoNode;
    std::size_t i = 0;
    for (auto it = inst.begin(); member_keywords && it != inst.end() && !done(); ++it, ++i) {
      const std::string& key = it.key();
      path_.push_back({&key, 0});
      bool matched = false;
      const auto prop = std::lower_bound(n.properties.begin(), n.properties.end(), key,
                                         [](const std::pair<std::string, NodeId>& p,
                                            const std::string& k) { return p.first < k; });
      if (prop != n.properties.end() && prop->first == key) {
        matched = true;
        ok = apply_child(prop->second, it.value(), report, "properties",
                         "property is not allowed") &&
             ok;
      }
      for (const PatternSchema& pp : n.pattern_properties) {
        if (done() || !search(pp.regex, key, n)) continue;
        matched = true;
        ok = apply_child(pp.node, it.value(), report, "patternProperties",
                         "property is not allowed") &&
             ok;
      }
      if (!matched && n.additional_properties != kNoNode && !done()) {
        matched = true;
        ok = apply_child(n.additional_properties, it.value(), report, "additionalProperties",
                         "additional property is not allowed") &&
             ok;
      }
      if (matched && marks != nullptr) marks->done[i] = 1;
      if (n.property_names != kNoNode && !done()) {
        const Json name(key);
        ++property_name_depth_;
        ok = apply_child(n.property_names, name, report, "propertyNames", "is not allowed") && ok;
        --property_name_depth_;
      }
      path_.pop_back();
    }
    return ok;
  }

  // After "no alternative matched": the errors of the alternative that was
  // most likely meant, so that a client sees what to fix. Alternatives that
  // reject the value by its type or by a const (a discriminator such as
  // "role": {"const": "user"}) are not meant; of the rest, the one with the
  // fewest errors is reported. Nothing is added when none is left.
  void explain_alternatives(const std::vector<NodeId>& branches, const Json& inst) {
    if (out_ == nullptr || out_->errors.size() >= max_errors()) return;
    const std::string here = instance_path();
    ValidationResult* saved = out_;
    ValidationResult best;
    bool found = false;
    for (NodeId b : branches) {
      ValidationResult attempt;
      out_ = &attempt;
      const bool valid = eval(b, inst, nullptr, true);
      out_ = saved;
      if (aborted_) return;
      if (valid || attempt.errors.empty()) continue;
      const bool rejected =
          std::any_of(attempt.errors.begin(), attempt.errors.end(), [&](const ValidationError& e) {
            return e.keyword == "const" || e.keyword == "false" ||
                   (e.keyword == "type" && e.instance_path == here);
          });
      if (rejected) continue;
      if (!found || attempt.errors.size() < best.errors.size()) best = std::move(attempt);
      found = true;
    }
    for (ValidationError& e : best.errors) {
      if (out_->errors.size() >= max_errors()) {
        out_->truncated = true;
        break;
      }
      out_->errors.push_back(std::move(e));
    }
  }

  // allOf, anyOf, oneOf, not, if/then/else, dependentSchemas.
  bool eval_in_place(const Node& n, const Json& inst, Marks* marks, bool report) {
    bool ok = true;
    const auto done = [&]() { return aborted_ || (!ok && !report); };
    for (NodeId c : n.all_of) {
      if (done()) return false;
      ok = eval(c, inst, marks, report) && ok;
    }
    for (const auto& [name, schema] : n.dependent_schemas) {
      if (done()) return false;
      if (inst.is_object() && inst.contains(name)) ok = eval(schema, inst, marks, report) && ok;
    }
    if (!n.any_of.empty() && !done()) {
      bool any = false;
      for (NodeId c : n.any_of) {
        if (aborted_) return false;
        Marks branch = marks != nullptr ? fresh(inst) : Marks{};
        if (!eval(c, inst, marks != nullptr ? &branch : nullptr, false)) continue;
        any = true;
        if (marks == nullptr) break;  // no annotations to collect from the others
        marks->merge(branch);
      }
      if (!any) {
        ok = false;
        if (report) {
          emit(n, "anyOf",
               fmt::format("must match at least one of {} alternatives", n.any_of.size()));
          explain_alternatives(n.any_of, inst);
        }
      }
    }
    if (!n.one_of.empty() && !done()) {
      std::vector<std::size_t> matched;
      Marks kept;
      for (std::size_t k = 0; k < n.one_of.size() && matched.size() < 2; ++k) {
        if (aborted_) return false;
        Marks branch = marks != nullptr ? fresh(inst) : Marks{};
        if (!eval(n.one_of[k], inst, marks != nullptr ? &branch : nullptr, false)) continue;
        matched.push_back(k);
        kept = std::move(branch);
      }
      if (matched.size() != 1) {
        ok = false;
        if (report) {
          emit(n, "oneOf",
               matched.empty()
                   ? fmt::format("must match exactly one of {} alternatives, matched none",
                                 n.one_of.size())
                   : fmt::format("must match exactly one of {} alternatives, matched {} and {}",
                                 n.one_of.size(), matched[0], matched[1]));
          if (matched.empty()) explain_alternatives(n.one_of, inst);
        }
      } else if (marks != nullptr) {
        marks->merge(kept);
      }
    }
    if (n.not_schema != kNoNode && !done()) {
      if (eval(n.not_schema, inst, nullptr, false)) {
        ok = false;
        if (report) emit(n, "not", "must not match the 'not' schema");
      }
      if (aborted_) return false;
    }
    if (n.if_schema != kNoNode && !done()) {
      Marks branch = marks != nullptr ? fresh(inst) : Marks{};
      const bool cond = eval(n.if_schema, inst, marks != nullptr ? &branch : nullptr, false);
      if (aborted_) return false;
      if (cond && marks != nullptr) marks->merge(branch);
      const NodeId next = cond ? n.then_schema : n.else_schema;
      if (next != kNoNode) ok = eval(next, inst, marks, report) && ok;
    }
    return ok;
  }

  const Schema::Compiled& s_;
  ValidationResult* out_;
  std::vector<Segment> path_;
  std::vector<std::uint32_t> scope_;  // dynamic scope: resources entered, outermost first
  int depth_ = 0;
  int property_name_depth_ = 0;
  std::uint64_t steps_ = 0;
  bool aborted_ = false;
};

}  // namespace

bool evaluate(const Schema::Compiled& schema, const core::Json& instance, ValidationResult* out) {
  return Evaluator(schema, out).run(instance);
}

}  // namespace mlxs::schema
