// compile(): scans each document for its resources ($id) and anchors, then
// builds one Node per schema location reached from the root, resolving every
// $ref to a NodeId (loading further documents by URI as refs name them).

#include "schema/compiler.h"

#include <fmt/format.h>

#include "schema/metaschemas.h"
#include "schema/uri.h"

namespace mlxs::schema {
namespace detail {
namespace {

using core::Json;

constexpr std::string_view kDefaultBase = "mlxs:///schema.json";

std::string without_empty_fragment(std::string uri) {
  if (!uri.empty() && uri.back() == '#') uri.pop_back();
  return uri;
}

bool has_suffix(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Official meta-schema URIs, with or without "#", http or https. Drafts 4
// and 6 are read as draft 7, their closest supported relative.
std::optional<Draft> known_draft(std::string_view uri) {
  for (std::string_view prefix : {"http://json-schema.org/", "https://json-schema.org/"}) {
    if (uri.substr(0, prefix.size()) != prefix) continue;
    const std::string_view rest = uri.substr(prefix.size());
    if (rest == "draft-07/schema" || rest == "draft-06/schema" || rest == "draft-04/schema") {
      return Draft::kDraft7;
    }
    if (rest == "draft/2019-09/schema") return Draft::kDraft2019_09;
    if (rest == "draft/2020-12/schema") return Draft::kDraft2020_12;
  }
  return std::nullopt;
}

const Json* at_pointer(const Json& root, std::string_view pointer) {
  const auto tokens = parse_json_pointer(pointer);
  if (!tokens) return nullptr;
  const Json* cur = &root;
  for (const std::string& token : *tokens) {
    if (cur->is_object()) {
      const auto it = cur->find(token);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      if (token.empty() || token.size() > 9 || (token.size() > 1 && token[0] == '0'))
        return nullptr;
      std::size_t index = 0;
      for (char c : token) {
        if (c < '0' || c > '9') return nullptr;
        index = index * 10 + static_cast<std::size_t>(c - '0');
      }
      if (index >= cur->size()) return nullptr;
      cur = &(*cur)[index];
    } else {
      return nullptr;
    }
  }
  return cur;
}

enum class ChildKind { kNone, kSchema, kArray, kMap, kSchemaOrArray };

// Which keywords hold subschemas, per draft.
ChildKind child_kind(std::string_view key, Draft draft) {
  if (key == "additionalProperties" || key == "propertyNames" || key == "contains" ||
      key == "not" || key == "if" || key == "then" || key == "else") {
    return ChildKind::kSchema;
  }
  if (key == "items") return ChildKind::kSchemaOrArray;
  if (key == "allOf" || key == "anyOf" || key == "oneOf") return ChildKind::kArray;
  if (key == "properties" || key == "patternProperties" || key == "dependencies") {
    return ChildKind::kMap;
  }
  if (draft == Draft::kDraft7) {
    if (key == "additionalItems") return ChildKind::kSchema;
    if (key == "definitions") return ChildKind::kMap;
    return ChildKind::kNone;
  }
  if (key == "unevaluatedItems" || key == "unevaluatedProperties" || key == "contentSchema") {
    return ChildKind::kSchema;
  }
  if (key == "$defs" || key == "dependentSchemas") return ChildKind::kMap;
  if (draft == Draft::kDraft2019_09) {
    if (key == "additionalItems") return ChildKind::kSchema;
    if (key == "definitions") return ChildKind::kMap;
    return ChildKind::kNone;
  }
  if (key == "prefixItems") return ChildKind::kArray;
  return ChildKind::kNone;
}

}  // namespace

core::Result<std::shared_ptr<const Schema::Compiled>> Compiler::run(const Json& document) {
  const std::string base =
      opt_.base_uri.empty() ? std::string(kDefaultBase) : without_empty_fragment(opt_.base_uri);
  Dialect dialect;
  dialect.draft = opt_.default_draft;
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t doc, add_document(document, base, "", dialect));
  MLXS_ASSIGN_OR_RETURN(const NodeId root, compile_node(Location{doc, ""}, 0));
  MLXS_RETURN_IF_ERROR(resolve_all());

  auto out = std::make_shared<Schema::Compiled>();
  out->root = root;
  out->options = opt_;
  out->options.documents = nullptr;
  for (std::size_t r = 0; r < resources_.size(); ++r) {
    Resource res;
    res.uri = resources_[r].uri;
    for (const auto& [name, pointer] : resource_info_[r].dynamic_anchors) {
      const auto& compiled = docs_[resource_info_[r].doc]->compiled;
      if (const auto it = compiled.find(pointer); it != compiled.end()) {
        res.dynamic_anchors.emplace_back(name, it->second);
      }
    }
    out->resources.push_back(std::move(res));
  }
  for (const Node& n : nodes_) {
    if (n.unevaluated_items != kNoNode || n.unevaluated_properties != kNoNode) {
      out->needs_annotations = true;
    }
  }
  out->nodes = std::move(nodes_);
  return std::shared_ptr<const Schema::Compiled>(std::move(out));
}

core::Status Compiler::error(std::string_view where, std::string_view what) const {
  return core::Status(opt_.error_code, fmt::format("schema {}: {}", where, what));
}

std::string Compiler::where(const Location& loc, std::string_view keyword) const {
  std::string p = docs_[loc.doc]->display + "#" + loc.pointer;
  if (!keyword.empty()) append_pointer_token(p, keyword);
  return p;
}

// ------------------------------------------------------------- documents

const Json* Compiler::find_document(std::string_view uri) const {
  if (opt_.documents != nullptr) {
    if (const auto it = opt_.documents->find(uri); it != opt_.documents->end()) return &it->second;
  }
  return builtin_metaschema(uri);
}

// The dialect a "$schema" URI selects: a known draft, or a custom meta-schema
// whose $vocabulary says which keywords are on. Unknown URIs keep the
// fallback (lenient: a typo in $schema should not make a schema unusable).
Dialect Compiler::dialect_for(std::string_view schema_uri, const Dialect& fallback,
                              int depth) const {
  const std::string uri = without_empty_fragment(std::string(schema_uri));
  if (const auto draft = known_draft(uri)) {
    Dialect d;
    d.draft = *draft;
    return d;
  }
  const Json* meta = find_document(uri);
  if (meta == nullptr || !meta->is_object() || depth > 8) return fallback;
  Dialect d = fallback;
  if (const auto it = meta->find("$schema"); it != meta->end() && it->is_string()) {
    const auto& next = it->get_ref<const std::string&>();
    if (without_empty_fragment(next) != uri) d = dialect_for(next, fallback, depth + 1);
  }
  if (const auto it = meta->find("$vocabulary"); it != meta->end() && it->is_object()) {
    d.applicator = d.validation = d.unevaluated = d.format_assertion = false;
    for (auto v = it->begin(); v != it->end(); ++v) {
      const std::string& key = v.key();
      if (has_suffix(key, "/vocab/applicator")) d.applicator = true;
      if (has_suffix(key, "/vocab/validation")) d.validation = true;
      if (has_suffix(key, "/vocab/unevaluated")) d.unevaluated = true;
      // We implement format assertion, so it is on whether required or not.
      if (has_suffix(key, "/vocab/format-assertion")) d.format_assertion = true;
    }
    if (d.draft == Draft::kDraft2019_09) d.unevaluated = d.applicator;
  }
  return d;
}

core::Result<std::uint32_t> Compiler::add_document(const Json& root, const std::string& uri,
                                                   std::string display, const Dialect& dialect) {
  auto doc = std::make_unique<Document>();
  doc->root = &root;
  doc->display = std::move(display);
  docs_.push_back(std::move(doc));
  const auto index = static_cast<std::uint32_t>(docs_.size() - 1);
  loaded_.insert(uri);
  std::string pointer;
  MLXS_RETURN_IF_ERROR(scan(index, root, pointer, uri, 0, dialect, 0, true));
  return index;
}

std::uint32_t Compiler::add_resource(const std::string& uri, const Location& loc) {
  resources_.push_back(Resource{uri, {}});
  resource_info_.push_back(ResourceInfo{loc.doc, {}});
  const auto index = static_cast<std::uint32_t>(resources_.size() - 1);
  resource_roots_.emplace(uri, std::make_pair(loc, index));
  return index;
}

// ------------------------------------------------------------------ scan

// Records the base URI, resource and dialect of every schema location
// reachable through keywords that hold schemas, and registers $id and
// anchors. Values of other keywords (enum, const, unknown ones) are not
// schemas, so identifiers inside them are not registered.
core::Status Compiler::scan(std::uint32_t doc, const Json& v, std::string& pointer,
                            std::string base, std::uint32_t resource, Dialect dialect, int depth,
                            bool doc_root) {
  if (depth > opt_.max_schema_depth) {
    return error(where(Location{doc, pointer}, ""),
                 fmt::format("nested deeper than {} levels", opt_.max_schema_depth));
  }
  if (!v.is_object()) {
    if (doc_root) resource = add_resource(base, Location{doc, pointer});
    if (v.is_boolean()) docs_[doc]->sites.emplace(pointer, Site{base, resource, dialect});
    return core::Status::ok();
  }
  const auto id_it = v.find("$id");
  bool has_id = id_it != v.end() && id_it->is_string();
  if (doc_root || has_id) {
    if (const auto it = v.find("$schema"); it != v.end() && it->is_string()) {
      dialect = dialect_for(it->get_ref<const std::string&>(), dialect);
    }
  }
  const bool draft7 = dialect.draft == Draft::kDraft7;
  const bool has_ref = v.contains("$ref");
  if (draft7 && has_ref) has_id = false;  // draft 7 ignores every sibling of $ref

  if (doc_root) resource = add_resource(base, Location{doc, pointer});
  if (has_id) {
    const auto& id = id_it->get_ref<const std::string&>();
    if (draft7 && !id.empty() && id[0] == '#') {
      anchors_.emplace(base + id, Location{doc, pointer});
    } else {
      auto [uri, fragment] = split_fragment(resolve_uri(base, id));
      if (uri != base) {
        if (doc_root) {
          resource_roots_.emplace(uri, std::make_pair(Location{doc, pointer}, resource));
          resources_[resource].uri = uri;
        } else {
          resource = add_resource(uri, Location{doc, pointer});
        }
        base = uri;
      }
      if (draft7 && !fragment.empty())
        anchors_.emplace(base + "#" + fragment, Location{doc, pointer});
    }
  }
  if (!draft7) {
    if (const auto it = v.find("$anchor"); it != v.end() && it->is_string()) {
      anchors_.emplace(base + "#" + it->get<std::string>(), Location{doc, pointer});
    }
  }
  if (dialect.draft == Draft::kDraft2020_12) {
    if (const auto it = v.find("$dynamicAnchor"); it != v.end() && it->is_string()) {
      const auto& name = it->get_ref<const std::string&>();
      anchors_.emplace(base + "#" + name, Location{doc, pointer});
      dynamic_anchor_uris_.insert(base + "#" + name);
      resource_info_[resource].dynamic_anchors.emplace_back(name, pointer);
    }
  }
  docs_[doc]->sites.emplace(pointer, Site{base, resource, dialect});
  if (draft7 && has_ref) return core::Status::ok();

  const auto visit = [&](std::string_view keyword, const std::string* member,
                         const Json& child) -> core::Status {
    const std::size_t len = pointer.size();
    append_pointer_token(pointer, keyword);
    if (member != nullptr) append_pointer_token(pointer, *member);
    auto st = scan(doc, child, pointer, base, resource, dialect, depth + 1, false);
    pointer.resize(len);
    return st;
  };
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& key = it.key();
    const Json& value = it.value();
    const ChildKind kind = child_kind(key, dialect.draft);
    if (kind == ChildKind::kSchema || (kind == ChildKind::kSchemaOrArray && !value.is_array())) {
      MLXS_RETURN_IF_ERROR(visit(key, nullptr, value));
    } else if ((kind == ChildKind::kArray || kind == ChildKind::kSchemaOrArray) &&
               value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string index = std::to_string(i);
        MLXS_RETURN_IF_ERROR(visit(key, &index, value[i]));
      }
    } else if (kind == ChildKind::kMap && value.is_object()) {
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (m.value().is_object() || m.value().is_boolean()) {
          MLXS_RETURN_IF_ERROR(visit(key, &m.key(), m.value()));
        }
      }
    }
  }
  return core::Status::ok();
}

// The site of a location: scanned, or (for refs into non-schema keywords such
// as "#/examples/0") that of the nearest scanned ancestor.
Site Compiler::site_for(const Location& loc) const {
  const Document& d = *docs_[loc.doc];
  std::string p = loc.pointer;
  while (true) {
    if (const auto it = d.sites.find(p); it != d.sites.end()) return it->second;
    if (p.empty()) return Site{};
    p.erase(p.rfind('/'));
  }
}

// --------------------------------------------------------------- compile

core::Result<NodeId> Compiler::compile_node(const Location& loc, int depth) {
  Document& d = *docs_[loc.doc];
  if (const auto it = d.compiled.find(loc.pointer); it != d.compiled.end()) return it->second;
  const std::string here = where(loc, "");
  if (depth > opt_.max_schema_depth) {
    return error(here, fmt::format("nested deeper than {} levels", opt_.max_schema_depth));
  }
  if (nodes_.size() >= opt_.max_nodes) {
    return error(here, fmt::format("more than {} subschemas", opt_.max_nodes));
  }
  const Json* value = at_pointer(*d.root, loc.pointer);
  if (value == nullptr) return error(here, "no such location");
  const Site site = site_for(loc);
  const auto id = static_cast<NodeId>(nodes_.size());
  nodes_.emplace_back();
  d.compiled.emplace(loc.pointer, id);

  Node n;
  n.location = here;
  n.draft = site.dialect.draft;
  n.resource = site.resource;
  if (value->is_boolean()) {
    n.boolean = value->get<bool>();
  } else if (!value->is_object()) {
    return error(here, "a schema must be an object or a boolean");
  } else {
    MLXS_RETURN_IF_ERROR(fill(n, id, *value, loc, site, depth));
  }
  nodes_[id] = std::move(n);
  return id;
}

core::Result<NodeId> Compiler::child(const Location& loc, std::string_view keyword, int depth) {
  std::string p = loc.pointer;
  append_pointer_token(p, keyword);
  return compile_node(Location{loc.doc, std::move(p)}, depth + 1);
}

core::Result<NodeId> Compiler::child(const Location& loc, std::string_view keyword,
                                     std::string_view member, int depth) {
  std::string p = loc.pointer;
  append_pointer_token(p, keyword);
  append_pointer_token(p, member);
  return compile_node(Location{loc.doc, std::move(p)}, depth + 1);
}

core::Status Compiler::add_ref(NodeId id, const Json& value, const std::string& at,
                               const Site& site, bool dynamic) {
  if (!value.is_string()) return error(at, "must be a string (a URI reference)");
  pending_.push_back(
      PendingRef{id, dynamic, resolve_uri(site.base, value.get<std::string>()), at, site.dialect});
  if (dynamic) uses_dynamic_ref_ = true;
  return core::Status::ok();
}

core::Result<Regex> Compiler::regex(const std::string& at, const std::string& pattern) {
  auto re = Regex::compile(pattern, opt_.regex);
  if (!re) return error(at, re.status().message());
  regex_total_ += re->size();
  if (regex_total_ > opt_.max_regex_total) {
    return error(at, fmt::format("patterns exceed {} units in all", opt_.max_regex_total));
  }
  return re;
}

// ------------------------------------------------------------ resolution

core::Status Compiler::resolve_all() {
  while (true) {
    while (!pending_.empty()) {
      PendingRef ref = std::move(pending_.back());
      pending_.pop_back();
      MLXS_ASSIGN_OR_RETURN(const NodeId target, resolve(ref));
      Node& n = nodes_[ref.node];
      if (!ref.dynamic) {
        n.ref = target;
        continue;
      }
      n.dynamic_ref = target;
      // Dynamic only when the fragment names a $dynamicAnchor of the
      // statically resolved resource; otherwise it is a plain $ref.
      const auto [base, fragment] = split_fragment(ref.uri);
      const std::string name = percent_decode(fragment);
      if (!name.empty() && name[0] != '/' && dynamic_anchor_uris_.count(base + "#" + name) != 0) {
        n.dynamic_ref_anchor = name;
      }
    }
    if (!uses_dynamic_ref_) return core::Status::ok();
    // Any dynamic anchor of a loaded resource may become a $dynamicRef target.
    bool added = false;
    for (std::size_t r = 0; r < resource_info_.size(); ++r) {
      const std::uint32_t doc = resource_info_[r].doc;
      for (std::size_t k = 0; k < resource_info_[r].dynamic_anchors.size(); ++k) {
        const std::string pointer = resource_info_[r].dynamic_anchors[k].second;
        if (docs_[doc]->compiled.count(pointer) != 0) continue;
        MLXS_RETURN_IF_ERROR(compile_node(Location{doc, pointer}, 0).status());
        added = true;
      }
    }
    if (!added) return core::Status::ok();
  }
}

core::Result<NodeId> Compiler::resolve(const PendingRef& ref) {
  auto [base, fragment] = split_fragment(ref.uri);
  auto root = resource_roots_.find(base);
  if (root == resource_roots_.end() && loaded_.count(base) == 0) {
    if (const Json* doc = find_document(base)) {
      MLXS_RETURN_IF_ERROR(add_document(*doc, base, base, ref.dialect).status());
      root = resource_roots_.find(base);
    }
  }
  if (root == resource_roots_.end()) {
    return error(ref.where, fmt::format("cannot resolve reference '{}'", ref.uri));
  }
  const Location resource_loc = root->second.first;
  if (fragment.empty()) return compile_node(resource_loc, 0);
  const std::string decoded = percent_decode(fragment);
  if (decoded[0] == '/') {
    Location target{resource_loc.doc, resource_loc.pointer + decoded};
    if (!parse_json_pointer(decoded) ||
        at_pointer(*docs_[target.doc]->root, target.pointer) == nullptr) {
      return error(ref.where, fmt::format("reference '{}' points to nothing", ref.uri));
    }
    return compile_node(target, 0);
  }
  const auto anchor = anchors_.find(base + "#" + decoded);
  if (anchor == anchors_.end()) {
    return error(ref.where, fmt::format("cannot resolve reference '{}' (no such anchor)", ref.uri));
  }
  return compile_node(anchor->second, 0);
}

}  // namespace detail

core::Result<std::shared_ptr<const Schema::Compiled>> compile_schema(
    const core::Json& document, const CompileOptions& options) {
  return detail::Compiler(options).run(document);
}

}  // namespace mlxs::schema
