#pragma once
// The schema compiler's internals, shared by compiler.cpp (documents, $id and
// anchor scan, $ref resolution) and keywords.cpp (one Node from the keywords
// of one schema object). Not part of the module's API.

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "schema/compiled.h"

namespace mlxs::schema::detail {

// What a location's "$schema" (or its document's) switches on.
struct Dialect {
  Draft draft = Draft::kDraft2020_12;
  bool applicator = true;
  bool validation = true;
  bool unevaluated = true;
  bool format_assertion = false;
};

struct Location {
  std::uint32_t doc = 0;
  std::string pointer;
};

// What the scan learnt about one schema location.
struct Site {
  std::string base;  // the base URI in effect inside it
  std::uint32_t resource = 0;
  Dialect dialect;
};

struct Document {
  const core::Json* root = nullptr;
  std::string display;  // "" for the root document, else its URI
  std::unordered_map<std::string, Site> sites;
  std::unordered_map<std::string, NodeId> compiled;
};

struct ResourceInfo {
  std::uint32_t doc = 0;
  std::vector<std::pair<std::string, std::string>> dynamic_anchors;  // name -> pointer
};

struct PendingRef {
  NodeId node = kNoNode;
  bool dynamic = false;
  std::string uri;    // resolved against the base
  std::string where;  // schema location of the keyword, for errors
  Dialect dialect;    // for documents this ref loads
};

class Compiler {
 public:
  explicit Compiler(const CompileOptions& options) : opt_(options) {}
  core::Result<std::shared_ptr<const Schema::Compiled>> run(const core::Json& document);

  // --- used by keywords.cpp ---
  core::Status error(std::string_view where, std::string_view what) const;
  std::string where(const Location& loc, std::string_view keyword) const;
  core::Result<NodeId> child(const Location& loc, std::string_view keyword, int depth);
  core::Result<NodeId> child(const Location& loc, std::string_view keyword, std::string_view member,
                             int depth);
  core::Status add_ref(NodeId id, const core::Json& value, const std::string& where,
                       const Site& site, bool dynamic);
  const CompileOptions& options() const { return opt_; }
  // Compiles a pattern of the keyword at `at`, within the schema-wide budget.
  core::Result<Regex> regex(const std::string& at, const std::string& pattern);

 private:
  const core::Json* find_document(std::string_view uri) const;
  Dialect dialect_for(std::string_view schema_uri, const Dialect& fallback, int depth = 0) const;
  core::Result<std::uint32_t> add_document(const core::Json& root, const std::string& uri,
                                           std::string display, const Dialect& dialect);
  std::uint32_t add_resource(const std::string& uri, const Location& loc);
  core::Status scan(std::uint32_t doc, const core::Json& v, std::string& pointer, std::string base,
                    std::uint32_t resource, Dialect dialect, int depth, bool doc_root);
  Site site_for(const Location& loc) const;
  core::Result<NodeId> compile_node(const Location& loc, int depth);
  core::Status resolve_all();
  core::Result<NodeId> resolve(const PendingRef& ref);

  // keywords.cpp: fills `n` from the keywords of the object `v`.
  core::Status fill(Node& n, NodeId id, const core::Json& v, const Location& loc, const Site& site,
                    int depth);

  const CompileOptions& opt_;
  std::vector<std::unique_ptr<Document>> docs_;
  std::unordered_set<std::string> loaded_;
  std::vector<Node> nodes_;
  std::vector<Resource> resources_;
  std::vector<ResourceInfo> resource_info_;
  std::unordered_map<std::string, std::pair<Location, std::uint32_t>> resource_roots_;
  std::unordered_map<std::string, Location> anchors_;
  std::unordered_set<std::string> dynamic_anchor_uris_;
  std::vector<PendingRef> pending_;
  bool uses_dynamic_ref_ = false;
  std::size_t regex_total_ = 0;
};

}  // namespace mlxs::schema::detail
