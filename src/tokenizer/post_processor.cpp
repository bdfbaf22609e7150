#include "tokenizer/post_processor.h"

#include <string>

namespace mlxs::tokenizer {
namespace {

using core::Result;

// Bert/Roberta give a special token as ["[CLS]", 101].
Result<std::int32_t> pair_id(const Json& obj, std::string_view key, std::string_view path) {
  MLXS_ASSIGN_OR_RETURN(const Json* v, req_field(obj, key, path));
  if (!v->is_array() || v->size() != 2 || !(*v)[0].is_string() || !(*v)[1].is_number_integer() ||
      (*v)[1].get<std::int64_t>() < 0) {
    return field_error(child_path(path, key), "expected [token, id]");
  }
  return static_cast<std::int32_t>((*v)[1].get<std::int64_t>());
}

core::Status parse_template(const Json& json, std::string_view path, PostProcessor& out) {
  MLXS_ASSIGN_OR_RETURN(const Json* single, req_field(json, "single", path));
  const std::string single_path = child_path(path, "single");
  if (!single->is_array()) return field_error(single_path, "expected an array");
  const Json* specials = json.contains("special_tokens") ? &json["special_tokens"] : nullptr;
  bool seen_sequence = false;
  for (std::size_t i = 0; i < single->size(); ++i) {
    const Json& piece = (*single)[i];
    const std::string p = index_path(single_path, i);
    if (piece.is_object() && piece.contains("Sequence")) {
      if (seen_sequence) return field_error(p, "the single template names the sequence twice");
      seen_sequence = true;
      continue;
    }
    if (!piece.is_object() || !piece.contains("SpecialToken")) {
      return field_error(p, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
    MLXS_ASSIGN_OR_RETURN(const std::string name,
                          req_string(piece["SpecialToken"], "id", child_path(p, "SpecialToken")));
    if (specials == nullptr || !specials->is_object() || !specials->contains(name)) {
      return field_error(child_path(path, "special_tokens"), "no entry for \"" + name + "\"");
    }
    const Json& entry = (*specials)[name];
    const std::string entry_path = child_path(child_path(path, "special_tokens"), name);
    MLXS_ASSIGN_OR_RETURN(const Json* ids, req_field(entry, "ids", entry_path));
    if (!ids->is_array())
      return field_error(child_path(entry_path, "ids"), "expected an array of ids");
    for (const Json& id : *ids) {
      if (!id.is_number_integer() || id.get<std::int64_t>() < 0 ||
          id.get<std::int64_t>() > INT32_MAX) {
        return field_error(child_path(entry_path, "ids"), "expected non-negative integer ids");
      }
      (seen_sequence ? out.suffix : out.prefix)
          .push_back(static_cast<std::int32_t>(id.get<std::int64_t>()));
    }
  }
  if (!seen_sequence) return field_error(single_path, "the single template has no Sequence");
  return core::Status::ok();
}

}  // namespace

Result<PostProcessor> parse_post_processor(const Json& json, std::string_view path) {
  PostProcessor out;
  if (json.is_null()) return out;
  MLXS_ASSIGN_OR_RETURN(const std::string type, component_type(json, path));
  if (type == "ByteLevel") return out;
  if (type == "TemplateProcessing") {
    MLXS_RETURN_IF_ERROR(parse_template(json, path, out));
    return out;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    MLXS_ASSIGN_OR_RETURN(const std::int32_t cls, pair_id(json, "cls", path));
    MLXS_ASSIGN_OR_RETURN(const std::int32_t sep, pair_id(json, "sep", path));
    out.prefix.push_back(cls);
    out.suffix.push_back(sep);
    return out;
  }
  if (type == "Sequence") {
    MLXS_ASSIGN_OR_RETURN(const Json* list, req_field(json, "processors", path));
    const std::string list_path = child_path(path, "processors");
    if (!list->is_array()) return field_error(list_path, "expected an array");
    // Each processor wraps what the previous one produced.
    for (std::size_t i = 0; i < list->size(); ++i) {
      MLXS_ASSIGN_OR_RETURN(PostProcessor step,
                            parse_post_processor((*list)[i], index_path(list_path, i)));
      out.prefix.insert(out.prefix.begin(), step.prefix.begin(), step.prefix.end());
      out.suffix.insert(out.suffix.end(), step.suffix.begin(), step.suffix.end());
    }
    return out;
  }
  return field_error(child_path(path, "type"), "unknown post_processor type \"" + type + "\"");
}

}  // namespace mlxs::tokenizer
