#pragma once
// Helpers for template tests: compile + render in one call, with the context
// given as JSON text (keys keep their order, as Python dicts do).

#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "template/chat_template.h"

namespace mlxs::template_::testing {

inline core::Result<std::string> render(std::string_view source, std::string_view context = "{}",
                                        const RenderOptions& options = {}) {
  auto tmpl = ChatTemplate::compile(source);
  if (!tmpl) return tmpl.status();
  const auto ctx = OrderedJson::parse(context);
  return tmpl->render(ctx, options);
}

// The rendered text, or "ERROR: <message>" so a failure shows in the diff.
inline std::string r(std::string_view source, std::string_view context = "{}") {
  auto out = render(source, context);
  return out.is_ok() ? *out : "ERROR: " + out.status().message();
}

// The error message (empty when the render succeeded).
inline std::string err(std::string_view source, std::string_view context = "{}",
                       const RenderOptions& options = {}) {
  auto out = render(source, context, options);
  if (out.is_ok()) return "";
  EXPECT_EQ(out.status().code(), core::ErrorCode::kTemplateError);
  return out.status().message();
}

}  // namespace mlxs::template_::testing
