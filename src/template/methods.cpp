#include "template/methods.h"

#include "template/args.h"
#include "template/interpreter.h"
#include "template/operators.h"
#include "template/str_methods.h"

namespace mlxs::template_ {
namespace {

using Fn = Callable::Fn;

core::Result<Value> d_items(Interpreter& in, const Value& self, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("items", args, {}).status());
  const Dict& d = self.as_dict();
  MLXS_RETURN_IF_ERROR(in.charge(16 * d.size()));
  List out;
  out.reserve(d.size());
  for (const auto& [k, v] : d.items) out.push_back(Value::tuple({k, v}));
  return Value::list(std::move(out));
}

core::Result<Value> d_keys(Interpreter& in, const Value& self, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("keys", args, {}).status());
  const Dict& d = self.as_dict();
  MLXS_RETURN_IF_ERROR(in.charge(16 * d.size()));
  List out;
  out.reserve(d.size());
  for (const auto& [k, v] : d.items) out.push_back(k);
  return Value::list(std::move(out));
}

core::Result<Value> d_values(Interpreter& in, const Value& self, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("values", args, {}).status());
  const Dict& d = self.as_dict();
  MLXS_RETURN_IF_ERROR(in.charge(16 * d.size()));
  List out;
  out.reserve(d.size());
  for (const auto& [k, v] : d.items) out.push_back(v);
  return Value::list(std::move(out));
}

core::Result<Value> d_get(Interpreter&, const Value& self, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("get", args, {"key", "default"}, 1));
  const Value& key = b.get(0);
  if (key.is_list() || key.is_dict())
    return type_error("unhashable type: '" + type_name(key) + "'");
  if (const Value* found = self.as_dict().find(key)) return *found;
  return b.get(1, Value::none());
}

core::Result<Value> copy(Interpreter&, const Value& self, const CallArgs& args) {
  MLXS_RETURN_IF_ERROR(BoundArgs::bind("copy", args, {}).status());
  return self;  // values are immutable, so sharing is a copy
}

core::Result<Value> l_index(Interpreter&, const Value& self, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("index", args, {"value"}, 1));
  const List& items = self.as_list();
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (equals(items[i], b.get(0))) return Value::integer(static_cast<std::int64_t>(i));
  }
  std::string shown;
  append_repr(shown, b.get(0), 200);
  return type_error(shown + " is not in list");
}

core::Result<Value> l_count(Interpreter&, const Value& self, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("count", args, {"value"}, 1));
  std::int64_t n = 0;
  for (const auto& item : self.as_list()) n += equals(item, b.get(0)) ? 1 : 0;
  return Value::integer(n);
}

core::Result<Value> loop_cycle(Interpreter&, const Value& self, const CallArgs& args) {
  if (args.positional.empty()) return type_error("no items for cycling given");
  const LoopState& l = self.as_loop();
  return args.positional[static_cast<std::size_t>(l.index0) % args.positional.size()];
}

core::Result<Value> loop_changed(Interpreter&, const Value& self, const CallArgs& args) {
  LoopState& l = self.as_loop();
  const Value now = Value::tuple(args.positional);
  if (l.has_changed && equals(l.last_changed, now)) return Value::boolean(false);
  l.last_changed = now;
  l.has_changed = true;
  return Value::boolean(true);
}

}  // namespace

Callable::Fn find_method(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case Value::Kind::kString:
      return find_str_method(name);
    case Value::Kind::kDict:
      if (name == "items") return d_items;
      if (name == "keys") return d_keys;
      if (name == "values") return d_values;
      if (name == "get") return d_get;
      if (name == "copy") return copy;
      return nullptr;
    case Value::Kind::kList:
      if (name == "copy") return copy;
      [[fallthrough]];
    case Value::Kind::kTuple:
      if (name == "index") return l_index;
      if (name == "count") return l_count;
      return nullptr;
    case Value::Kind::kLoop:
      if (name == "cycle") return loop_cycle;
      if (name == "changed") return loop_changed;
      return nullptr;
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
    case Value::Kind::kGenerator:
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
      return nullptr;
  }
  return nullptr;
}

bool is_unsafe_method(const Value& obj, std::string_view name) {
  static constexpr std::string_view kList[] = {"append", "clear",  "extend",  "insert",
                                               "pop",    "remove", "reverse", "sort"};
  static constexpr std::string_view kDict[] = {"clear", "pop", "popitem", "setdefault", "update"};
  if (obj.is_list()) {
    for (const auto n : kList) {
      if (n == name) return true;
    }
  }
  if (obj.is_dict()) {
    for (const auto n : kDict) {
      if (n == name) return true;
    }
  }
  return false;
}

Value loop_attribute(const Value& loop, std::string_view name) {
  const LoopState& l = loop.as_loop();
  if (name == "index") return Value::integer(l.index0 + 1);
  if (name == "index0") return Value::integer(l.index0);
  if (name == "revindex") return Value::integer(l.length - l.index0);
  if (name == "revindex0") return Value::integer(l.length - l.index0 - 1);
  if (name == "first") return Value::boolean(l.index0 == 0);
  if (name == "last") return Value::boolean(l.index0 + 1 == l.length);
  if (name == "length") return Value::integer(l.length);
  if (name == "depth") return Value::integer(l.depth0 + 1);
  if (name == "depth0") return Value::integer(l.depth0);
  if (name == "previtem") {
    if (l.index0 == 0 || !l.items) return Value::undefined("there is no previous item");
    return (*l.items)[static_cast<std::size_t>(l.index0 - 1)];
  }
  if (name == "nextitem") {
    if (l.index0 + 1 >= l.length || !l.items) return Value::undefined("there is no next item");
    return (*l.items)[static_cast<std::size_t>(l.index0 + 1)];
  }
  return Value::undefined("'jinja2.runtime.LoopContext object' has no attribute '" +
                          std::string(name) + "'");
}

}  // namespace mlxs::template_
