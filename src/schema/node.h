#pragma once
// The compiled form of a schema, public and read-only: guidance/ walks these
// nodes to build grammars. A schema is a graph (refs make cycles), so nodes
// live in one vector and point at each other by NodeId.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json_util.h"
#include "schema/regex.h"

namespace mlxs::schema {

using NodeId = std::uint32_t;
inline constexpr NodeId kNoNode = std::numeric_limits<NodeId>::max();

enum class Draft : std::uint8_t { kDraft7, kDraft2019_09, kDraft2020_12 };

// Bits of the "type" keyword. kInteger alone admits 1 and 1.0; kNumber
// admits every number.
enum TypeBits : std::uint8_t {
  kTypeNull = 1U << 0,
  kTypeBoolean = 1U << 1,
  kTypeObject = 1U << 2,
  kTypeArray = 1U << 3,
  kTypeNumber = 1U << 4,
  kTypeString = 1U << 5,
  kTypeInteger = 1U << 6,
};

// A format check; null when the format is unknown or only annotated.
using FormatChecker = bool (*)(std::string_view);

struct PatternSchema {
  Regex regex;
  NodeId node = kNoNode;
};

struct Node {
  // "#/properties/a" in the root document, "<uri>#/…" in others: the
  // absolute keyword location that errors report (plus "/<keyword>").
  std::string location;
  Draft draft = Draft::kDraft2020_12;
  std::uint32_t resource = 0;  // index into Schema::resources(), for $dynamicRef
  // true/false schemas; nullopt for object schemas.
  std::optional<bool> boolean;

  // --- references (resolved at compile time) ---
  NodeId ref = kNoNode;
  NodeId dynamic_ref = kNoNode;    // the statically resolved target
  std::string dynamic_ref_anchor;  // non-empty: look this anchor up in the dynamic scope

  // --- any instance ---
  std::uint8_t types = 0;  // TypeBits; 0 = no "type" keyword
  std::optional<std::vector<core::Json>> enum_values;
  std::optional<core::Json> const_value;

  // --- numbers ---
  std::optional<core::Json> minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;

  // --- strings (lengths in code points) ---
  std::optional<std::uint64_t> min_length, max_length;
  std::optional<Regex> pattern;
  std::string format;                      // empty when absent
  FormatChecker format_checker = nullptr;  // set when the format is asserted
  std::string content_encoding, content_media_type;
  bool content_asserted = false;

  // --- arrays ---
  std::vector<NodeId> prefix_items;  // 2020-12 prefixItems; draft 7 array-form items
  NodeId items = kNoNode;            // items after the prefix (draft 7: additionalItems)
  NodeId contains = kNoNode;
  std::optional<std::uint64_t> min_contains, max_contains;
  std::optional<std::uint64_t> min_items, max_items;
  bool unique_items = false;
  NodeId unevaluated_items = kNoNode;

  // --- objects ---
  std::vector<std::pair<std::string, NodeId>> properties;  // sorted by name
  std::vector<PatternSchema> pattern_properties;
  NodeId additional_properties = kNoNode;
  NodeId property_names = kNoNode;
  NodeId unevaluated_properties = kNoNode;
  std::vector<std::string> required;
  std::optional<std::uint64_t> min_properties, max_properties;
  std::vector<std::pair<std::string, std::vector<std::string>>> dependent_required;
  std::vector<std::pair<std::string, NodeId>> dependent_schemas;

  // --- in-place applicators ---
  std::vector<NodeId> all_of, any_of, one_of;
  NodeId not_schema = kNoNode;
  NodeId if_schema = kNoNode, then_schema = kNoNode, else_schema = kNoNode;

  // --- annotations kept for generation and documentation ---
  std::string title, description;
  std::optional<core::Json> default_value;
};

// A schema resource: a document or a subschema with its own $id.
struct Resource {
  std::string uri;
  // $dynamicAnchor names defined in this resource and their nodes (only
  // compiled when the schema uses $dynamicRef).
  std::vector<std::pair<std::string, NodeId>> dynamic_anchors;
};

}  // namespace mlxs::schema
