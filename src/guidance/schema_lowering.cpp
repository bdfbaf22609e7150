#include "guidance/schema_lowering.h"

#include <algorithm>

#include <fmt/format.h>

#include "guidance/dfa_ops.h"
#include "guidance/json_format.h"
#include "guidance/json_number.h"
#include "guidance/json_string.h"
#include "guidance/nfa.h"
#include "guidance/regex_dfa.h"
#include "schema/json_value.h"

namespace mlxs::guidance {
namespace {

using core::Json;
using schema::Node;
using schema::NodeId;

constexpr int kMaxDepth = 200;
// Counted string lengths beyond these become these (a subset: longer values
// are refused, never shorter ones accepted).
constexpr std::uint64_t kMaxCountedLength = 256;
constexpr std::uint64_t kMaxCountedLengthWithPattern = 256;

bool has_string_keywords(const Node& n) {
  return n.min_length || n.max_length || n.pattern || !n.format.empty();
}
bool has_number_keywords(const Node& n) {
  return n.minimum || n.maximum || n.exclusive_minimum || n.exclusive_maximum || n.multiple_of;
}
bool has_array_keywords(const Node& n) {
  return !n.prefix_items.empty() || n.items != schema::kNoNode || n.contains != schema::kNoNode ||
         n.min_items || n.max_items || n.unique_items;
}
bool has_object_keywords(const Node& n) {
  return !n.properties.empty() || !n.pattern_properties.empty() ||
         n.additional_properties != schema::kNoNode || n.property_names != schema::kNoNode ||
         !n.required.empty() || n.min_properties || n.max_properties;
}

Shape only_objects(std::vector<ObjectAlt> alts) {
  Shape s = Shape::nothing();
  s.objects = std::move(alts);
  return s;
}

Shape non_objects() {
  Shape s = Shape::any();
  s.objects.clear();
  return s;
}

ObjectAlt forbid(const std::string& name) {
  ObjectAlt o;
  o.props.push_back({name, Expr::nothing(), false});
  return o;
}

ObjectAlt require(const std::vector<std::string>& names) {
  ObjectAlt o;
  for (const auto& name : names) {
    if (o.find(name) == nullptr) o.props.push_back({name, Expr::any(), true});
  }
  return o;
}

// The content bytes of a string value.
std::string content_of(const Json& s) {
  return s.get<std::string>();
}

// Every spelling of the numbers (enum members) in the value syntax.
core::Result<Dfa> numbers_dfa(const std::vector<const Json*>& values) {
  Nfa nfa;
  const std::uint32_t start = nfa.add_state();
  const std::uint32_t end = nfa.add_state();
  for (const Json* v : values) {
    const DecimalText d = decimal_of(*v);
    std::string text;
    if (d.negative) text += "-";
    text += d.int_digits.empty() ? "0" : d.int_digits;
    Nfa::Frag f = nfa.literal(text);
    if (d.frac_digits.empty()) {
      // n, n.0, n.00, ... (and -0 for zero)
      Nfa::Frag zeros = nfa.concat(nfa.literal("."), nfa.plus(nfa.literal("0")));
      f = nfa.concat(f, nfa.optional(zeros));
      if (d.is_zero()) f = nfa.concat(nfa.optional(nfa.literal("-")), f);
    } else {
      f = nfa.concat(nfa.concat(f, nfa.literal("." + d.frac_digits)), nfa.star(nfa.literal("0")));
    }
    nfa.add_eps(start, f.in);
    nfa.add_eps(f.out, end);
  }
  MLXS_ASSIGN_OR_RETURN(Dfa all, nfa_to_dfa(nfa, Nfa::Frag{start, end}));
  return intersect(all, number_value_syntax());
}

// The canonical text of a number for automaton checks.
std::string number_text(const Json& v) {
  const DecimalText d = decimal_of(v);
  std::string text = d.negative ? "-" : "";
  text += d.int_digits.empty() ? "0" : d.int_digits;
  if (!d.frac_digits.empty()) text += "." + d.frac_digits;
  return text;
}

core::Result<Domain> intersect_domain(const Domain& a, const Domain& b) {
  if (a.all) return b;
  if (b.all) return a;
  if (a.is_none() || b.is_none()) return Domain::none();
  MLXS_ASSIGN_OR_RETURN(Dfa d, intersect(*a.dfa, *b.dfa));
  return Domain::of(std::move(d));
}

core::Result<Domain> unite_domain(const Domain& a, const Domain& b) {
  if (a.all || b.all) return Domain{};
  if (a.is_none()) return b;
  if (b.is_none()) return a;
  MLXS_ASSIGN_OR_RETURN(Dfa d, unite(*a.dfa, *b.dfa));
  return Domain::of(std::move(d));
}

void add_literal(std::vector<Json>& list, const Json& v) {
  for (const Json& x : list) {
    if (schema::json_equal(x, v)) return;
  }
  list.push_back(v);
}

}  // namespace

std::string keyword_location(const Node& n, std::string_view keyword) {
  std::string loc = n.location.empty() ? "#" : n.location;
  if (!keyword.empty()) {
    loc += "/";
    for (const char c : keyword) {
      if (c == '~') {
        loc += "~0";
      } else if (c == '/') {
        loc += "~1";
      } else {
        loc += c;
      }
    }
  }
  return loc;
}

SchemaLowering::SchemaLowering(const schema::Schema& schema, PropertyOrder order,
                               LoweringOptions options, TerminalTable* memo)
    : schema_(schema), memo_(memo), order_(std::move(order)), options_(options) {}

core::Status SchemaLowering::error(const Node& n, std::string_view keyword,
                                   std::string_view what) const {
  return core::make_error(core::ErrorCode::kGuidanceError, "{}: {}", keyword_location(n, keyword),
                          what);
}

core::Result<std::shared_ptr<const Dfa>> SchemaLowering::pattern_dfa(const schema::Regex& regex) {
  if (auto it = patterns_.find(regex.pattern()); it != patterns_.end()) return it->second;
  const auto build = [&] { return regex_to_dfa(regex, RegexMode::kSearch); };
  std::shared_ptr<const Dfa> p;
  if (memo_ != nullptr) {
    MLXS_ASSIGN_OR_RETURN(p, memo_->memo("re:" + regex.pattern(), build));
  } else {
    MLXS_ASSIGN_OR_RETURN(Dfa d, build());
    p = std::make_shared<const Dfa>(std::move(d));
  }
  patterns_.emplace(regex.pattern(), p);
  return p;
}

core::Result<std::shared_ptr<const Shape>> SchemaLowering::shape_of_node(NodeId id) {
  if (auto it = node_shapes_.find(id); it != node_shapes_.end()) return it->second;
  const Node& n = schema_.node(id);
  if (in_progress_.count(id) != 0 || depth_ >= kMaxDepth) {
    return error(n, "", "the schema refers to itself without an enclosing object or array");
  }
  in_progress_.insert(id);
  ++depth_;
  auto shape = lower_node(id);
  --depth_;
  in_progress_.erase(id);
  if (!shape.is_ok()) return std::move(shape).take_status();
  auto ptr = std::make_shared<const Shape>(std::move(shape).value());
  node_shapes_.emplace(id, ptr);
  return ptr;
}

core::Result<std::shared_ptr<const Shape>> SchemaLowering::shape_of(const Expr& expr) {
  static const auto kAny = std::make_shared<const Shape>(Shape::any());
  static const auto kNothing = std::make_shared<const Shape>(Shape::nothing());
  if (expr.never) return kNothing;
  if (expr.is_any()) return kAny;
  if (expr.pos.size() == 1 && expr.neg.empty()) return shape_of_node(expr.pos[0]);
  const std::string key = expr.key();
  if (auto it = expr_shapes_.find(key); it != expr_shapes_.end()) return it->second;
  Shape s = Shape::any();
  for (const NodeId id : expr.pos) {
    MLXS_ASSIGN_OR_RETURN(auto part, shape_of_node(id));
    MLXS_ASSIGN_OR_RETURN(s, intersect(s, *part));
  }
  for (const NodeId id : expr.neg) {
    MLXS_ASSIGN_OR_RETURN(auto part, shape_of_node(id));
    auto c = complement(*part);
    if (!c.is_ok())
      return error(schema_.node(id), "", "cannot be negated: " + c.status().message());
    MLXS_ASSIGN_OR_RETURN(s, intersect(s, *c));
  }
  auto ptr = std::make_shared<const Shape>(std::move(s));
  expr_shapes_.emplace(key, ptr);
  return ptr;
}

core::Result<Shape> SchemaLowering::lower_node(NodeId id) {
  const Node& n = schema_.node(id);
  if (n.boolean) return *n.boolean ? Shape::any() : Shape::nothing();
  if (n.unevaluated_items != schema::kNoNode) {
    const Node& u = schema_.node(n.unevaluated_items);
    if (!(u.boolean && *u.boolean))
      return error(n, "unevaluatedItems", "unevaluatedItems is not supported");
  }
  if (n.unevaluated_properties != schema::kNoNode) {
    const Node& u = schema_.node(n.unevaluated_properties);
    if (!(u.boolean && *u.boolean)) {
      return error(n, "unevaluatedProperties", "unevaluatedProperties is not supported");
    }
  }
  Shape s = Shape::any();
  const auto merge = [&]() -> core::Status {
    if (n.ref != schema::kNoNode) {
      MLXS_ASSIGN_OR_RETURN(auto r, shape_of_node(n.ref));
      MLXS_ASSIGN_OR_RETURN(s, intersect(s, *r));
    }
    if (n.dynamic_ref != schema::kNoNode) {
      if (!n.dynamic_ref_anchor.empty()) {
        return error(n, "$dynamicRef", "dynamic references are not supported for generation");
      }
      MLXS_ASSIGN_OR_RETURN(auto r, shape_of_node(n.dynamic_ref));
      MLXS_ASSIGN_OR_RETURN(s, intersect(s, *r));
    }
    for (const NodeId m : n.all_of) {
      MLXS_ASSIGN_OR_RETURN(auto r, shape_of_node(m));
      MLXS_ASSIGN_OR_RETURN(s, intersect(s, *r));
    }
    return core::Status::ok();
  };
  const auto own = [&]() -> core::Status {
    MLXS_ASSIGN_OR_RETURN(Shape k, lower_keywords(n, id));
    MLXS_ASSIGN_OR_RETURN(s, intersect(s, k));
    return core::Status::ok();
  };
  if (options_.merged_first) {
    MLXS_RETURN_IF_ERROR(merge());
    MLXS_RETURN_IF_ERROR(own());
  } else {
    MLXS_RETURN_IF_ERROR(own());
    MLXS_RETURN_IF_ERROR(merge());
  }
  if (!n.any_of.empty()) {
    Shape u = Shape::nothing();
    for (const NodeId m : n.any_of) {
      MLXS_ASSIGN_OR_RETURN(auto r, shape_of_node(m));
      auto united = unite(u, *r);
      u = std::move(united);
      if (u.objects.size() + u.arrays.size() > options_.max_alternatives) {
        return error(n, "anyOf", "too many object or array alternatives");
      }
    }
    MLXS_ASSIGN_OR_RETURN(s, intersect(s, u));
  }
  if (!n.one_of.empty()) {
    MLXS_ASSIGN_OR_RETURN(Shape o, lower_one_of(n));
    MLXS_ASSIGN_OR_RETURN(s, intersect(s, o));
  }
  if (n.not_schema != schema::kNoNode) {
    MLXS_ASSIGN_OR_RETURN(auto r, shape_of_node(n.not_schema));
    auto c = complement(*r);
    if (!c.is_ok()) return error(n, "not", c.status().message());
    MLXS_ASSIGN_OR_RETURN(s, intersect(s, *c));
  }
  if (n.if_schema != schema::kNoNode) {
    MLXS_ASSIGN_OR_RETURN(auto cond, shape_of_node(n.if_schema));
    Shape then_s = Shape::any();
    Shape else_s = Shape::any();
    if (n.then_schema != schema::kNoNode) {
      MLXS_ASSIGN_OR_RETURN(auto t, shape_of_node(n.then_schema));
      then_s = *t;
    }
    if (n.else_schema != schema::kNoNode) {
      MLXS_ASSIGN_OR_RETURN(auto e, shape_of_node(n.else_schema));
      else_s = *e;
    }
    MLXS_ASSIGN_OR_RETURN(Shape yes, intersect(*cond, then_s));
    auto not_cond = complement(*cond);
    if (!not_cond.is_ok()) return error(n, "if", not_cond.status().message());
    MLXS_ASSIGN_OR_RETURN(Shape no, intersect(*not_cond, else_s));
    MLXS_ASSIGN_OR_RETURN(s, intersect(s, unite(yes, no)));
  }
  for (const auto& [name, names] : n.dependent_required) {
    std::vector<std::string> all{name};
    all.insert(all.end(), names.begin(), names.end());
    Shape d =
        unite(unite(non_objects(), only_objects({forbid(name)})), only_objects({require(all)}));
    MLXS_ASSIGN_OR_RETURN(s, intersect(s, d));
  }
  for (const auto& [name, node] : n.dependent_schemas) {
    MLXS_ASSIGN_OR_RETURN(auto dep, shape_of_node(node));
    MLXS_ASSIGN_OR_RETURN(Shape with, intersect(only_objects({require({name})}), *dep));
    Shape d = unite(unite(non_objects(), only_objects({forbid(name)})), with);
    MLXS_ASSIGN_OR_RETURN(s, intersect(s, d));
  }
  if (s.objects.size() + s.arrays.size() > options_.max_alternatives) {
    return error(n, "", "too many object or array alternatives (anyOf/oneOf/allOf combinations)");
  }
  return s;
}

core::Result<Shape> SchemaLowering::lower_one_of(const Node& n) {
  std::vector<std::shared_ptr<const Shape>> parts;
  for (const NodeId m : n.one_of) {
    MLXS_ASSIGN_OR_RETURN(auto r, shape_of_node(m));
    if (!r->is_nothing()) parts.push_back(r);
  }
  bool exclusive = true;
  for (std::size_t i = 0; i < parts.size() && exclusive; ++i) {
    for (std::size_t j = i + 1; j < parts.size() && exclusive; ++j)
      exclusive = disjoint(*parts[i], *parts[j]);
  }
  Shape u = Shape::nothing();
  if (exclusive) {
    for (const auto& p : parts) u = unite(u, *p);
    return u;
  }
  // Exactly one: each alternative without the others.
  std::vector<Shape> negated;
  for (const auto& p : parts) {
    auto c = complement(*p);
    if (!c.is_ok()) {
      return error(n, "oneOf",
                   "the alternatives may overlap, and one of them cannot be negated to make them "
                   "exclusive (" +
                       c.status().message() + ")");
    }
    negated.push_back(std::move(c).value());
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    Shape only = *parts[i];
    for (std::size_t j = 0; j < parts.size(); ++j) {
      if (j == i) continue;
      auto x = intersect(only, negated[j]);
      if (!x.is_ok()) return error(n, "oneOf", x.status().message());
      only = std::move(x).value();
    }
    u = unite(u, only);
  }
  return u;
}

core::Result<Shape> SchemaLowering::lower_keywords(const Node& n, NodeId id) {
  Shape s = Shape::any();
  if (n.types != 0) {
    const std::uint8_t t = n.types;
    if ((t & schema::kTypeNull) == 0) s.null_ok = false;
    if ((t & schema::kTypeBoolean) == 0) s.true_ok = s.false_ok = false;
    if ((t & schema::kTypeString) == 0) s.str = Domain::none();
    if ((t & schema::kTypeNumber) == 0) {
      if ((t & schema::kTypeInteger) != 0) {
        s.num = Domain::of(integer_values());
        s.integers_only = true;
      } else {
        s.num = Domain::none();
      }
    }
    if ((t & schema::kTypeObject) == 0) s.objects.clear();
    if ((t & schema::kTypeArray) == 0) s.arrays.clear();
  }
  if (has_string_keywords(n)) {
    MLXS_ASSIGN_OR_RETURN(s, lower_strings(n, std::move(s)));
  }
  if (has_number_keywords(n)) {
    MLXS_ASSIGN_OR_RETURN(s, lower_numbers(n, std::move(s)));
  }
  if (has_array_keywords(n) && !s.arrays.empty()) {
    MLXS_ASSIGN_OR_RETURN(ArrayAlt a, lower_array(n));
    MLXS_ASSIGN_OR_RETURN(s.arrays, intersect_arrays(s.arrays, {std::move(a)}));
  }
  if (has_object_keywords(n) && !s.objects.empty()) {
    MLXS_ASSIGN_OR_RETURN(ObjectAlt o, lower_object(n, id));
    MLXS_ASSIGN_OR_RETURN(s.objects, intersect_objects(s.objects, {std::move(o)}));
  }
  if (n.enum_values) {
    MLXS_ASSIGN_OR_RETURN(Shape e, lower_enum(*n.enum_values));
    MLXS_ASSIGN_OR_RETURN(s, intersect(s, e));
  }
  if (n.const_value) {
    MLXS_ASSIGN_OR_RETURN(Shape e, lower_enum({*n.const_value}));
    MLXS_ASSIGN_OR_RETURN(s, intersect(s, e));
  }
  return s;
}

core::Result<Shape> SchemaLowering::lower_strings(const Node& n, Shape s) {
  if (s.str.is_none()) return s;
  if (memo_ != nullptr && s.str.all) {
    // Schemas repeat the same string constraints; build each combination once.
    const std::string key = fmt::format(
        "str:{}|{}|{}|{}|{}|{}", n.pattern ? n.pattern->pattern() : std::string("\x01"), n.format,
        n.min_length.value_or(0), n.max_length ? std::to_string(*n.max_length) : "-",
        options_.strict_formats, n.location);
    const std::string shared_key = key.substr(0, key.rfind('|'));
    bool failed = false;
    core::Status failure;
    auto d = memo_->memo(shared_key, [&]() -> core::Result<Dfa> {
      Shape fresh;
      auto r = lower_strings_uncached(n, fresh);
      if (!r.is_ok()) {
        failed = true;
        failure = r.status();
        return core::Status(core::ErrorCode::kGuidanceError, "failed");
      }
      if (r->str.all) return utf8_any();
      if (r->str.is_none()) return Dfa();
      return *r->str.dfa;
    });
    if (failed) return failure;
    if (!d.is_ok()) return std::move(d).take_status();
    if (**d == utf8_any()) return s;  // e.g. an unknown format alone
    s.str = Domain{false, *d};
    return s;
  }
  return lower_strings_uncached(n, std::move(s));
}

core::Result<Shape> SchemaLowering::lower_strings_uncached(const Node& n, Shape s) {
  std::optional<Dfa> d;
  const auto add = [&](const Dfa& x, std::string_view keyword) -> core::Status {
    if (!d) {
      d = x;
      return core::Status::ok();
    }
    auto r = guidance::intersect(*d, x);
    if (!r.is_ok()) return error(n, keyword, r.status().message());
    d = std::move(r).value();
    return core::Status::ok();
  };
  if (n.pattern) {
    auto p = pattern_dfa(*n.pattern);
    if (!p.is_ok()) return error(n, "pattern", p.status().message());
    MLXS_RETURN_IF_ERROR(add(**p, "pattern"));
  }
  if (!n.format.empty()) {
    if (const Dfa* f = format_content(n.format)) {
      MLXS_RETURN_IF_ERROR(add(*f, "format"));
    } else if (options_.strict_formats) {
      return error(n, "format", fmt::format("unknown format '{}'", n.format));
    }
  }
  if (n.min_length || n.max_length) {
    const std::uint64_t cap = d ? kMaxCountedLengthWithPattern : kMaxCountedLength;
    const std::uint64_t min = n.min_length.value_or(0);
    std::optional<std::uint64_t> max = n.max_length;
    if (max && *max > cap) max = std::max(cap, min);
    if (min > kMaxCountedLength) {
      return error(n, "minLength",
                   fmt::format("minLength above {} is not supported", kMaxCountedLength));
    }
    auto len = utf8_length(min, max);
    if (!len.is_ok())
      return error(n, n.max_length ? "maxLength" : "minLength", len.status().message());
    MLXS_RETURN_IF_ERROR(add(*len, n.max_length ? "maxLength" : "minLength"));
  }
  if (d) {
    auto r = intersect_domain(s.str, Domain::of(std::move(*d)));
    if (!r.is_ok()) return error(n, "pattern", r.status().message());
    s.str = std::move(r).value();
  }
  return s;
}

core::Result<Shape> SchemaLowering::lower_numbers(const Node& n, Shape s) {
  if (s.num.is_none()) return s;
  const bool integers = !s.num.all && *s.num.dfa == integer_values();
  if (memo_ != nullptr && (s.num.all || integers)) {
    const auto text = [](const std::optional<Json>& v) { return v ? v->dump() : std::string("-"); };
    const std::string key =
        fmt::format("num:{}|{}|{}|{}|{}|{}", integers, text(n.minimum), text(n.maximum),
                    text(n.exclusive_minimum), text(n.exclusive_maximum), text(n.multiple_of));
    core::Status failure;
    auto d = memo_->memo(key, [&]() -> core::Result<Dfa> {
      auto r = lower_numbers_uncached(n, s);
      if (!r.is_ok()) {
        failure = r.status();
        return failure;
      }
      return *r->num.dfa;
    });
    if (!failure.is_ok()) return failure;
    if (!d.is_ok()) return std::move(d).take_status();
    s.num = Domain{false, *d};
    return s;
  }
  return lower_numbers_uncached(n, std::move(s));
}

core::Result<Shape> SchemaLowering::lower_numbers_uncached(const Node& n, Shape s) {
  Dfa d = s.num.all ? number_value_syntax() : *s.num.dfa;
  const auto add = [&](core::Result<Dfa> x, std::string_view keyword) -> core::Status {
    if (!x.is_ok()) return error(n, keyword, x.status().message());
    auto r = guidance::intersect(d, *x);
    if (!r.is_ok()) return error(n, keyword, r.status().message());
    d = std::move(r).value();
    return core::Status::ok();
  };
  if (n.minimum)
    MLXS_RETURN_IF_ERROR(add(number_bound(*n.minimum, Compare::kGreaterEqual), "minimum"));
  if (n.maximum)
    MLXS_RETURN_IF_ERROR(add(number_bound(*n.maximum, Compare::kLessEqual), "maximum"));
  if (n.exclusive_minimum) {
    MLXS_RETURN_IF_ERROR(
        add(number_bound(*n.exclusive_minimum, Compare::kGreater), "exclusiveMinimum"));
  }
  if (n.exclusive_maximum) {
    MLXS_RETURN_IF_ERROR(
        add(number_bound(*n.exclusive_maximum, Compare::kLess), "exclusiveMaximum"));
  }
  if (n.multiple_of) MLXS_RETURN_IF_ERROR(add(number_multiple_of(*n.multiple_of), "multipleOf"));
  s.num = Domain::of(std::move(d));
  return s;
}

core::Result<Shape> SchemaLowering::lower_enum(const std::vector<Json>& values) {
  Shape e = Shape::nothing();
  std::vector<std::string> strings;
  std::vector<const Json*> numbers;
  bool all_integers = true;
  for (const Json& v : values) {
    if (v.is_null()) {
      e.null_ok = true;
    } else if (v.is_boolean()) {
      (v.get<bool>() ? e.true_ok : e.false_ok) = true;
    } else if (v.is_string()) {
      strings.push_back(content_of(v));
    } else if (v.is_number()) {
      if (v.is_number_float() && !std::isfinite(v.get<double>())) continue;
      numbers.push_back(&v);
      all_integers = all_integers && schema::is_integer_value(v);
    } else {
      add_literal(e.literals, v);
    }
  }
  if (!strings.empty()) {
    MLXS_ASSIGN_OR_RETURN(Dfa d, string_values(strings));
    e.str = Domain::of(std::move(d));
  }
  if (!numbers.empty()) {
    MLXS_ASSIGN_OR_RETURN(Dfa d, numbers_dfa(numbers));
    e.num = Domain::of(std::move(d));
    e.integers_only = all_integers;
  }
  return e;
}

core::Result<ArrayAlt> SchemaLowering::lower_array(const Node& n) {
  ArrayAlt a;
  for (const NodeId p : n.prefix_items) a.prefix.push_back(Expr::node(p));
  if (n.items != schema::kNoNode) a.items = Expr::node(n.items);
  a.min = n.min_items.value_or(0);
  a.max = n.max_items.value_or(kUnbounded);
  if (n.contains != schema::kNoNode) {
    if (n.max_contains) return error(n, "maxContains", "maxContains is not supported");
    const std::uint64_t need = n.min_contains.value_or(1);
    if (need > 1) return error(n, "minContains", "minContains above 1 is not supported");
    if (need == 1) a.contains.push_back(Expr::node(n.contains));
  }
  a.unique = n.unique_items;
  return a;
}

core::Result<ObjectAlt> SchemaLowering::lower_object(const Node& n, NodeId id) {
  ObjectAlt o;
  ObjectAlt::Side side;
  for (const auto& pp : n.pattern_properties) {
    auto p = pattern_dfa(pp.regex);
    if (!p.is_ok()) return error(n, "patternProperties", p.status().message());
    side.patterns.emplace_back(*p, pp.node);
  }
  if (n.additional_properties != schema::kNoNode) side.additional = n.additional_properties;
  const bool has_side = !side.patterns.empty() || side.additional.has_value();
  if (has_side) o.sides.push_back(side);
  const auto find_prop = [&](const std::string& name) -> NodeId {
    const auto it =
        std::lower_bound(n.properties.begin(), n.properties.end(), name,
                         [](const auto& p, const std::string& k) { return p.first < k; });
    return it != n.properties.end() && it->first == name ? it->second : schema::kNoNode;
  };
  const auto is_required = [&](const std::string& name) {
    return std::find(n.required.begin(), n.required.end(), name) != n.required.end();
  };
  std::vector<std::string> names;
  if (const std::vector<std::string>* order = order_ ? order_(id) : nullptr) {
    for (const auto& name : *order) {
      if (find_prop(name) != schema::kNoNode) names.push_back(name);
    }
  }
  if (names.size() != n.properties.size()) {
    names.clear();
    for (const auto& [name, node] : n.properties) names.push_back(name);
  }
  for (const std::string& name : names) {
    Expr value = Expr::node(find_prop(name));
    for (const auto& [dfa, node] : side.patterns) {
      if (dfa->matches(name)) value = value & Expr::node(node);
    }
    o.props.push_back({name, std::move(value), is_required(name)});
  }
  ObjectAlt only_side;
  if (has_side) only_side.sides.push_back(side);
  for (const std::string& name : n.required) {
    if (o.find(name) != nullptr) continue;
    o.props.push_back({name, constraint_for(only_side, name), true});
  }
  if (n.property_names != schema::kNoNode) {
    MLXS_ASSIGN_OR_RETURN(auto names_shape, shape_of_node(n.property_names));
    if (!names_shape->str.all) {
      o.names =
          names_shape->str.dfa != nullptr ? names_shape->str.dfa : std::make_shared<const Dfa>();
    }
  }
  o.min = n.min_properties.value_or(0);
  o.max = n.max_properties.value_or(kUnbounded);
  return o;
}

Expr SchemaLowering::constraint_for(const ObjectAlt& alt, const std::string& name) const {
  if (const ObjectAlt::Prop* p = alt.find(name)) return p->value;
  if (alt.names != nullptr && !alt.names->matches(name)) return Expr::nothing();
  Expr e = Expr::any();
  for (const ObjectAlt::Side& side : alt.sides) {
    bool matched = false;
    for (const auto& [dfa, node] : side.patterns) {
      if (dfa->matches(name)) {
        e = e & Expr::node(node);
        matched = true;
      }
    }
    if (!matched && side.additional) e = e & Expr::node(*side.additional);
  }
  return e;
}

core::Result<std::vector<ObjectAlt>> SchemaLowering::intersect_objects(
    const std::vector<ObjectAlt>& a, const std::vector<ObjectAlt>& b) {
  if (a.empty() || b.empty()) return std::vector<ObjectAlt>{};
  if (a.size() == 1 && a[0].unconstrained()) return b;
  if (b.size() == 1 && b[0].unconstrained()) return a;
  if (a.size() * b.size() > options_.max_alternatives) {
    return core::Status(core::ErrorCode::kGuidanceError,
                        "too many object alternatives (anyOf/oneOf/allOf combinations)");
  }
  std::vector<ObjectAlt> out;
  for (const ObjectAlt& x : a) {
    for (const ObjectAlt& y : b) {
      ObjectAlt r;
      for (const auto& p : x.props) {
        ObjectAlt::Prop q = p;
        q.value = p.value & constraint_for(y, p.name);
        if (const ObjectAlt::Prop* yp = y.find(p.name)) q.required = q.required || yp->required;
        r.props.push_back(std::move(q));
      }
      for (const auto& p : y.props) {
        if (x.find(p.name) != nullptr) continue;
        ObjectAlt::Prop q = p;
        q.value = constraint_for(x, p.name) & p.value;
        r.props.push_back(std::move(q));
      }
      r.sides = x.sides;
      r.sides.insert(r.sides.end(), y.sides.begin(), y.sides.end());
      if (x.names != nullptr && y.names != nullptr) {
        MLXS_ASSIGN_OR_RETURN(Dfa d, guidance::intersect(*x.names, *y.names));
        r.names = std::make_shared<const Dfa>(std::move(d));
      } else {
        r.names = x.names != nullptr ? x.names : y.names;
      }
      r.min = std::max(x.min, y.min);
      r.max = std::min(x.max, y.max);
      if (r.min > r.max) continue;
      bool dead = false;
      for (const auto& p : r.props) dead = dead || (p.required && p.value.never);
      if (!dead) out.push_back(std::move(r));
    }
  }
  return out;
}

core::Result<std::vector<ArrayAlt>> SchemaLowering::intersect_arrays(
    const std::vector<ArrayAlt>& a, const std::vector<ArrayAlt>& b) {
  if (a.empty() || b.empty()) return std::vector<ArrayAlt>{};
  if (a.size() == 1 && a[0].unconstrained()) return b;
  if (b.size() == 1 && b[0].unconstrained()) return a;
  if (a.size() * b.size() > options_.max_alternatives) {
    return core::Status(core::ErrorCode::kGuidanceError,
                        "too many array alternatives (anyOf/oneOf/allOf combinations)");
  }
  std::vector<ArrayAlt> out;
  for (const ArrayAlt& x : a) {
    for (const ArrayAlt& y : b) {
      ArrayAlt r;
      const std::size_t n = std::max(x.prefix.size(), y.prefix.size());
      for (std::size_t i = 0; i < n; ++i) {
        const Expr& ex = i < x.prefix.size() ? x.prefix[i] : x.items;
        const Expr& ey = i < y.prefix.size() ? y.prefix[i] : y.items;
        r.prefix.push_back(ex & ey);
      }
      r.items = x.items & y.items;
      r.min = std::max(x.min, y.min);
      r.max = std::min(x.max, y.max);
      if (r.min > r.max) continue;
      r.contains = x.contains;
      r.contains.insert(r.contains.end(), y.contains.begin(), y.contains.end());
      r.unique = x.unique || y.unique;
      out.push_back(std::move(r));
    }
  }
  return out;
}

core::Result<Shape> SchemaLowering::intersect(const Shape& a, const Shape& b) {
  Shape r;
  r.null_ok = a.null_ok && b.null_ok;
  r.true_ok = a.true_ok && b.true_ok;
  r.false_ok = a.false_ok && b.false_ok;
  MLXS_ASSIGN_OR_RETURN(r.str, intersect_domain(a.str, b.str));
  MLXS_ASSIGN_OR_RETURN(r.num, intersect_domain(a.num, b.num));
  r.integers_only = !r.num.all && (a.integers_only || b.integers_only);
  MLXS_ASSIGN_OR_RETURN(r.objects, intersect_objects(a.objects, b.objects));
  MLXS_ASSIGN_OR_RETURN(r.arrays, intersect_arrays(a.arrays, b.arrays));
  for (const Json& l : a.literals) {
    if (accepts(b, l)) add_literal(r.literals, l);
  }
  for (const Json& l : b.literals) {
    if (accepts(a, l)) add_literal(r.literals, l);
  }
  return r;
}

Shape SchemaLowering::unite(const Shape& a, const Shape& b) const {
  Shape r;
  r.null_ok = a.null_ok || b.null_ok;
  r.true_ok = a.true_ok || b.true_ok;
  r.false_ok = a.false_ok || b.false_ok;
  // A union too large to build keeps one side: a subset, never more.
  auto s = unite_domain(a.str, b.str);
  r.str = s.is_ok() ? std::move(s).value() : a.str;
  auto n = unite_domain(a.num, b.num);
  r.num = n.is_ok() ? std::move(n).value() : a.num;
  r.integers_only =
      !r.num.all && (a.num.is_none() || a.integers_only) && (b.num.is_none() || b.integers_only);
  const auto join = [](const auto& x, const auto& y, auto& out) {
    for (const auto* list : {&x, &y}) {
      for (const auto& alt : *list) {
        if (alt.unconstrained()) {
          out.assign(1, alt);
          return;
        }
      }
    }
    out = x;
    out.insert(out.end(), y.begin(), y.end());
  };
  join(a.objects, b.objects, r.objects);
  join(a.arrays, b.arrays, r.arrays);
  r.literals = a.literals;
  for (const Json& l : b.literals) add_literal(r.literals, l);
  return r;
}

core::Result<std::vector<ObjectAlt>> SchemaLowering::complement_objects(
    const std::vector<ObjectAlt>& alts) {
  if (alts.empty()) return std::vector<ObjectAlt>{ObjectAlt{}};
  std::vector<ObjectAlt> result{ObjectAlt{}};
  for (const ObjectAlt& alt : alts) {
    if (alt.unconstrained()) return std::vector<ObjectAlt>{};
    if (alt.names != nullptr)
      return core::Status(core::ErrorCode::kGuidanceError,
                          "negating propertyNames is not supported");
    for (const auto& side : alt.sides) {
      if (!side.patterns.empty() || side.additional) {
        return core::Status(core::ErrorCode::kGuidanceError,
                            "negating additionalProperties or patternProperties is not supported");
      }
    }
    std::vector<ObjectAlt> comp;
    for (const auto& p : alt.props) {
      if (p.required) comp.push_back(forbid(p.name));
      for (const Expr& d : p.value.negation()) {
        ObjectAlt o;
        o.props.push_back({p.name, d, true});
        comp.push_back(std::move(o));
      }
    }
    if (alt.min > 0) {
      ObjectAlt o;
      o.max = alt.min - 1;
      comp.push_back(std::move(o));
    }
    if (alt.max != kUnbounded) {
      ObjectAlt o;
      o.min = alt.max + 1;
      comp.push_back(std::move(o));
    }
    MLXS_ASSIGN_OR_RETURN(result, intersect_objects(result, comp));
  }
  return result;
}

core::Result<std::vector<ArrayAlt>> SchemaLowering::complement_arrays(
    const std::vector<ArrayAlt>& alts) {
  if (alts.empty()) return std::vector<ArrayAlt>{ArrayAlt{}};
  std::vector<ArrayAlt> result{ArrayAlt{}};
  for (const ArrayAlt& alt : alts) {
    if (alt.unconstrained()) return std::vector<ArrayAlt>{};
    if (alt.unique || !alt.contains.empty()) {
      return core::Status(core::ErrorCode::kGuidanceError,
                          "negating uniqueItems or contains is not supported");
    }
    std::vector<ArrayAlt> comp;
    if (alt.min > 0) {
      ArrayAlt a;
      a.max = alt.min - 1;
      comp.push_back(std::move(a));
    }
    if (alt.max != kUnbounded) {
      ArrayAlt a;
      a.min = alt.max + 1;
      comp.push_back(std::move(a));
    }
    for (std::size_t i = 0; i < alt.prefix.size(); ++i) {
      for (const Expr& d : alt.prefix[i].negation()) {
        ArrayAlt a;
        a.prefix.assign(i, Expr::any());
        a.prefix.push_back(d);
        a.min = i + 1;
        comp.push_back(std::move(a));
      }
    }
    if (!alt.items.is_any()) {
      if (!alt.prefix.empty()) {
        return core::Status(core::ErrorCode::kGuidanceError,
                            "negating items after prefixItems is not supported");
      }
      for (const Expr& d : alt.items.negation()) {
        ArrayAlt a;
        a.contains.push_back(d);
        comp.push_back(std::move(a));
      }
    }
    MLXS_ASSIGN_OR_RETURN(result, intersect_arrays(result, comp));
  }
  return result;
}

core::Result<Shape> SchemaLowering::complement(const Shape& s) {
  if (!s.literals.empty()) {
    return core::Status(core::ErrorCode::kGuidanceError,
                        "negating an enum or const of objects or arrays is not supported");
  }
  Shape r;
  r.null_ok = !s.null_ok;
  r.true_ok = !s.true_ok;
  r.false_ok = !s.false_ok;
  if (s.str.all) {
    r.str = Domain::none();
  } else if (s.str.is_none()) {
    r.str = Domain{};
  } else {
    MLXS_ASSIGN_OR_RETURN(Dfa d, guidance::subtract(utf8_any(), *s.str.dfa));
    r.str = Domain::of(std::move(d));
  }
  if (s.num.all) {
    r.num = Domain::none();
  } else if (s.num.is_none()) {
    r.num = Domain{};
  } else {
    MLXS_ASSIGN_OR_RETURN(Dfa d, guidance::subtract(number_value_syntax(), *s.num.dfa));
    r.num = Domain::of(std::move(d));
  }
  MLXS_ASSIGN_OR_RETURN(r.objects, complement_objects(s.objects));
  MLXS_ASSIGN_OR_RETURN(r.arrays, complement_arrays(s.arrays));
  return r;
}

bool SchemaLowering::accepts(const Shape& s, const Json& v, int depth) {
  if (depth > 64) return false;
  if (v.is_null()) return s.null_ok;
  if (v.is_boolean()) return v.get<bool>() ? s.true_ok : s.false_ok;
  if (v.is_string())
    return s.str.all || (!s.str.is_none() && s.str.dfa->matches(v.get<std::string>()));
  if (v.is_number()) {
    if (s.num.all) return true;
    if (s.num.is_none()) return false;
    if (v.is_number_float() && !std::isfinite(v.get<double>())) return false;
    return s.num.dfa->matches(number_text(v));
  }
  for (const Json& l : s.literals) {
    if (schema::json_equal(l, v)) return true;
  }
  if (v.is_object()) {
    for (const ObjectAlt& alt : s.objects) {
      if (accepts_object(alt, v, depth)) return true;
    }
    return false;
  }
  if (v.is_array()) {
    for (const ArrayAlt& alt : s.arrays) {
      if (accepts_array(alt, v, depth)) return true;
    }
  }
  return false;
}

bool SchemaLowering::accepts_object(const ObjectAlt& alt, const Json& v, int depth) {
  if (v.size() < alt.min || v.size() > alt.max) return false;
  for (const auto& p : alt.props) {
    if (p.required && !v.contains(p.name)) return false;
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (alt.names != nullptr && !alt.names->matches(it.key())) return false;
    auto shape = shape_of(constraint_for(alt, it.key()));
    if (!shape.is_ok() || !accepts(**shape, it.value(), depth + 1)) return false;
  }
  return true;
}

bool SchemaLowering::accepts_array(const ArrayAlt& alt, const Json& v, int depth) {
  if (v.size() < alt.min || v.size() > alt.max) return false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto shape = shape_of(i < alt.prefix.size() ? alt.prefix[i] : alt.items);
    if (!shape.is_ok() || !accepts(**shape, v[i], depth + 1)) return false;
    if (alt.unique) {
      for (std::size_t j = 0; j < i; ++j) {
        if (schema::json_equal(v[i], v[j])) return false;
      }
    }
  }
  for (const Expr& c : alt.contains) {
    auto shape = shape_of(c);
    if (!shape.is_ok()) return false;
    bool found = false;
    for (const Json& e : v) found = found || accepts(**shape, e, depth + 1);
    if (!found) return false;
  }
  return true;
}

bool SchemaLowering::disjoint(const Shape& a, const Shape& b, int depth) {
  if (depth > 8) return false;
  if ((a.null_ok && b.null_ok) || (a.true_ok && b.true_ok) || (a.false_ok && b.false_ok))
    return false;
  const auto domains_disjoint = [](const Domain& x, const Domain& y) {
    if (x.is_none() || y.is_none()) return true;
    if (x.all || y.all) return false;
    return is_disjoint(*x.dfa, *y.dfa);
  };
  if (!domains_disjoint(a.str, b.str) || !domains_disjoint(a.num, b.num)) return false;
  for (const ObjectAlt& x : a.objects) {
    for (const ObjectAlt& y : b.objects) {
      if (!disjoint_objects(x, y, depth)) return false;
    }
  }
  for (const ArrayAlt& x : a.arrays) {
    for (const ArrayAlt& y : b.arrays) {
      if (!disjoint_arrays(x, y, depth)) return false;
    }
  }
  for (const Json& l : a.literals) {
    if (accepts(b, l)) return false;
  }
  for (const Json& l : b.literals) {
    if (accepts(a, l)) return false;
  }
  return true;
}

bool SchemaLowering::disjoint_objects(const ObjectAlt& x, const ObjectAlt& y, int depth) {
  if (std::max(x.min, y.min) > std::min(x.max, y.max)) return true;
  const auto check = [&](const ObjectAlt& p, const ObjectAlt& q) {
    for (const auto& prop : p.props) {
      if (!prop.required) continue;
      const Expr other = constraint_for(q, prop.name);
      if (other.never || prop.value.never) return true;
      const ObjectAlt::Prop* qp = q.find(prop.name);
      if (qp == nullptr || !qp->required) continue;
      auto sp = shape_of(prop.value);
      auto sq = shape_of(qp->value);
      if (sp.is_ok() && sq.is_ok() && disjoint(**sp, **sq, depth + 1)) return true;
    }
    return false;
  };
  return check(x, y) || check(y, x);
}

bool SchemaLowering::disjoint_arrays(const ArrayAlt& x, const ArrayAlt& y, int depth) {
  if (std::max(x.min, y.min) > std::min(x.max, y.max)) return true;
  const std::uint64_t both = std::min(x.min, y.min);
  for (std::uint64_t i = 0; i < both && i < 16; ++i) {
    const Expr& ex = i < x.prefix.size() ? x.prefix[i] : x.items;
    const Expr& ey = i < y.prefix.size() ? y.prefix[i] : y.items;
    auto sx = shape_of(ex);
    auto sy = shape_of(ey);
    if (sx.is_ok() && sy.is_ok() && disjoint(**sx, **sy, depth + 1)) return true;
  }
  return false;
}

}  // namespace mlxs::guidance
