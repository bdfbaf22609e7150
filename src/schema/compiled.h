#pragma once
// The immutable result of compile(): what a Schema shares between threads.

#include <vector>

#include "schema/schema.h"

namespace mlxs::schema {

struct Schema::Compiled {
  std::vector<Node> nodes;
  std::vector<Resource> resources;
  NodeId root = kNoNode;
  CompileOptions options;  // `documents` cleared: it is not ours to keep
  // Only schemas with unevaluated* keywords pay for annotation tracking.
  bool needs_annotations = false;
};

// Builds the node graph (compiler.cpp).
core::Result<std::shared_ptr<const Schema::Compiled>> compile_schema(const core::Json& document,
                                                                     const CompileOptions& options);

}  // namespace mlxs::schema
