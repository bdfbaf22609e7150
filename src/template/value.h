#pragma once
// The values templates compute with, modelled on the Python objects jinja2
// hands around: None, bool, int, float, str, list, tuple, dict, the
// `namespace()` object, callables (macros, builtins, bound methods), the
// `loop` object and jinja2's Undefined. Strings, lists and dicts are shared
// and immutable (transformers renders in jinja2's *immutable* sandbox, so no
// template can mutate them); only namespaces and loop state change.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mlxs::template_ {

class Value;
using List = std::vector<Value>;
struct Dict;
struct Namespace;
struct Callable;
struct LoopState;
struct GeneratorState;

class Value {
 public:
  enum class Kind : std::uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kTuple,
    kGenerator,  // a single-pass iterator (what select/map/... return)
    kDict,
    kNamespace,
    kCallable,
    kLoop,
  };

  Value() = default;  // Undefined with no name
  // An Undefined whose use (attribute, call, arithmetic...) fails with `message`.
  static Value undefined(std::string message);
  static Value none();
  static Value boolean(bool v);
  static Value integer(std::int64_t v);
  static Value number(double v);
  static Value string(std::string v);
  static Value string(std::shared_ptr<const std::string> v);
  // markupsafe's Markup: a string marked safe (|safe, |e). It prints as
  // itself, but escapes plain strings combined with it by + and %.
  static Value markup(std::string v);
  static Value list(List items);
  static Value tuple(List items);
  // groupby's (grouper, list) pairs: tuples that also answer .grouper/.list.
  static Value group(Value grouper, List items);
  static Value dict(Dict d);
  static Value dict(std::shared_ptr<const Dict> d);
  static Value ns(std::shared_ptr<Namespace> n);
  static Value callable(std::shared_ptr<const Callable> c);
  static Value loop(std::shared_ptr<LoopState> l);
  static Value generator(std::shared_ptr<GeneratorState> g);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  // int, float or bool (Python's bool is an int).
  bool is_number() const {
    return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool;
  }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_markup() const { return kind_ == Kind::kString && b_; }
  bool is_group() const { return kind_ == Kind::kTuple && b_; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  bool is_generator() const { return kind_ == Kind::kGenerator; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_callable() const { return kind_ == Kind::kCallable; }
  bool is_loop() const { return kind_ == Kind::kLoop; }

  bool as_bool() const { return b_; }
  std::int64_t as_int() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }
  double as_float() const;  // any number
  const std::string& as_string() const;
  std::shared_ptr<const std::string> string_ptr() const;
  const List& as_list() const;  // list or tuple
  const Dict& as_dict() const;
  Namespace& as_namespace() const;
  const Callable& as_callable() const;
  LoopState& as_loop() const;
  GeneratorState& as_generator() const;
  // The message an Undefined raises when used; empty for a plain Undefined.
  std::string undefined_message() const;

  // Identity of shared storage (for `is sameas`).
  const void* identity() const { return ptr_.get(); }

  // What walking this value costs: bytes of a string, 1 + the weights of a
  // container's elements (shared elements count each time they appear).
  // The interpreter charges it before deep operations (==, tojson, sort...),
  // so values built by doubling cannot make one step take forever.
  std::uint64_t weight() const;
  // Nesting of lists/tuples/dicts (0 for anything else). Bounded by the
  // interpreter so that walking or destroying a value cannot exhaust the stack.
  int depth() const { return depth_; }

 private:
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  std::uint16_t depth_ = 0;
  std::int64_t i_ = 0;  // the int, or a container's weight
  double f_ = 0;
  std::shared_ptr<void> ptr_;
};

// Insertion-ordered mapping, like a Python dict. Keys are compared with
// Python equality; string keys get a hash index once the dict is large.
struct Dict {
  std::vector<std::pair<Value, Value>> items;

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Inserts or replaces (keeping the first position, as Python does).
  void set(Value key, Value value);
  std::size_t size() const { return items.size(); }
  void clear() {
    index_.clear();
    items.clear();
  }

 private:
  void index_if_large();
  std::unordered_map<std::string_view, std::size_t> index_;
};

// jinja2's namespace(): the one mutable object a template can assign into.
struct Namespace {
  Dict attrs;
};

// Arguments of a call: positional then keyword.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

// Python's str(), repr(), truthiness and type name. append_str/append_repr
// stop (returning false) once `out` would pass `limit` bytes: a namespace can
// hold itself, so printing one could otherwise never end.
std::string to_str(const Value& v);
bool append_str(std::string& out, const Value& v, std::size_t limit = SIZE_MAX);
bool append_repr(std::string& out, const Value& v, std::size_t limit = SIZE_MAX);
std::string repr(const Value& v);
bool truthy(const Value& v);
std::string type_name(const Value& v);
// jinja2's object_type_repr (for Undefined messages): "dict object", "None".
std::string object_type_repr(const Value& v);

// Python ==.
bool equals(const Value& a, const Value& b);

// markupsafe.escape: & < > " ' as HTML entities.
std::string html_escape(std::string_view s);

// Python's repr of a float ("1.0", "1e-05", "inf").
std::string float_repr(double v);

}  // namespace mlxs::template_
