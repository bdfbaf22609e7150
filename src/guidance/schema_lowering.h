#pragma once
// From compiled schema nodes (schema/node.h) to shapes (schema_shape.h): every
// assertion keyword is either translated exactly, translated to a subset of
// what it allows (documented in docs/structured-output.md: the output still
// validates), or refused with a GuidanceError naming the keyword and its
// schema location. Nothing is silently ignored.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/status.h"
#include "guidance/schema_shape.h"
#include "guidance/terminal.h"
#include "schema/schema.h"

namespace mlxs::guidance {

struct LoweringOptions {
  // Unknown "format" values are errors (default: annotations, as the
  // specification says; any string).
  bool strict_formats = false;
  // Object/array alternatives a shape may hold (anyOf x allOf products).
  std::size_t max_alternatives = 128;
  // Merge $ref and allOf members before the node's own keywords (this
  // decides property order when several schemas name properties).
  bool merged_first = true;
};

class SchemaLowering {
 public:
  // `order(node)`: the definition order of the node's "properties" (null:
  // the compiled order, sorted by name).
  using PropertyOrder = std::function<const std::vector<std::string>*(schema::NodeId)>;
  // `memo` (may be null) remembers automata across compiles.
  SchemaLowering(const schema::Schema& schema, PropertyOrder order, LoweringOptions options,
                 TerminalTable* memo = nullptr);

  core::Result<std::shared_ptr<const Shape>> shape_of(const Expr& expr);
  core::Result<std::shared_ptr<const Shape>> shape_of_node(schema::NodeId id);

  core::Result<Shape> intersect(const Shape& a, const Shape& b);
  Shape unite(const Shape& a, const Shape& b) const;
  // GuidanceError (no path) when the complement has no exact form here.
  core::Result<Shape> complement(const Shape& s);
  // Whether the shape accepts the JSON value (enum/const filtering).
  bool accepts(const Shape& s, const core::Json& value, int depth = 0);
  // Whether no value satisfies both (false when unsure).
  bool disjoint(const Shape& a, const Shape& b, int depth = 0);

  // The constraint an object alternative puts on the value of key `name`.
  Expr constraint_for(const ObjectAlt& alt, const std::string& name) const;
  const schema::Schema& schema() const { return schema_; }
  const LoweringOptions& options() const { return options_; }
  // The search automaton of a regex (cached).
  core::Result<std::shared_ptr<const Dfa>> pattern_dfa(const schema::Regex& regex);

 private:
  core::Result<Shape> lower_node(schema::NodeId id);
  core::Result<Shape> lower_keywords(const schema::Node& n, schema::NodeId id);
  core::Result<Shape> lower_strings(const schema::Node& n, Shape s);
  core::Result<Shape> lower_strings_uncached(const schema::Node& n, Shape s);
  core::Result<Shape> lower_numbers(const schema::Node& n, Shape s);
  core::Result<Shape> lower_numbers_uncached(const schema::Node& n, Shape s);
  core::Result<Shape> lower_enum(const std::vector<core::Json>& values);
  core::Result<ObjectAlt> lower_object(const schema::Node& n, schema::NodeId id);
  core::Result<ArrayAlt> lower_array(const schema::Node& n);
  core::Result<Shape> lower_one_of(const schema::Node& n);
  core::Result<std::vector<ObjectAlt>> intersect_objects(const std::vector<ObjectAlt>& a,
                                                         const std::vector<ObjectAlt>& b);
  core::Result<std::vector<ArrayAlt>> intersect_arrays(const std::vector<ArrayAlt>& a,
                                                       const std::vector<ArrayAlt>& b);
  core::Result<std::vector<ObjectAlt>> complement_objects(const std::vector<ObjectAlt>& alts);
  core::Result<std::vector<ArrayAlt>> complement_arrays(const std::vector<ArrayAlt>& alts);
  bool disjoint_objects(const ObjectAlt& a, const ObjectAlt& b, int depth);
  bool disjoint_arrays(const ArrayAlt& a, const ArrayAlt& b, int depth);
  bool accepts_object(const ObjectAlt& alt, const core::Json& value, int depth);
  bool accepts_array(const ArrayAlt& alt, const core::Json& value, int depth);
  core::Status error(const schema::Node& n, std::string_view keyword, std::string_view what) const;

  const schema::Schema& schema_;
  TerminalTable* memo_;
  PropertyOrder order_;
  LoweringOptions options_;
  std::unordered_map<schema::NodeId, std::shared_ptr<const Shape>> node_shapes_;
  std::unordered_map<std::string, std::shared_ptr<const Shape>> expr_shapes_;
  std::unordered_set<schema::NodeId> in_progress_;
  std::map<std::string, std::shared_ptr<const Dfa>, std::less<>> patterns_;
  int depth_ = 0;
};

// "#/properties/a/uniqueItems" for errors: the node's location and a keyword.
std::string keyword_location(const schema::Node& n, std::string_view keyword);

}  // namespace mlxs::guidance
