#include "tokenizer/tokenizer_config.h"

#include "core/json_util.h"
#include "tokenizer/json_fields.h"

namespace mlxs::tokenizer {
namespace {

constexpr std::string_view kFile = "tokenizer_config.json";

core::Result<std::optional<SpecialToken>> special(const Json& doc, const char* key) {
  const Json* it = find_field(doc, key);
  if (it == nullptr) return std::optional<SpecialToken>();
  const std::string path = std::string(kFile) + ": " + key;
  if (it->is_string())
    return std::optional<SpecialToken>(SpecialToken{it->get_ref<const std::string&>(), -1});
  if (it->is_object()) {
    MLXS_ASSIGN_OR_RETURN(std::string content, req_string(*it, "content", path));
    return std::optional<SpecialToken>(SpecialToken{std::move(content), -1});
  }
  return field_error(path, "expected a string or an object with \"content\"");
}

}  // namespace

core::Result<TokenizerConfig> parse_tokenizer_config(std::string_view text) {
  MLXS_ASSIGN_OR_RETURN(const core::Json doc, core::parse_json(text, std::string(kFile),
                                                               core::ErrorCode::kTokenizerError));
  if (!doc.is_object()) return field_error(kFile, "expected a JSON object");
  TokenizerConfig c;
  MLXS_ASSIGN_OR_RETURN(c.bos, special(doc, "bos_token"));
  MLXS_ASSIGN_OR_RETURN(c.eos, special(doc, "eos_token"));
  MLXS_ASSIGN_OR_RETURN(c.pad, special(doc, "pad_token"));
  MLXS_ASSIGN_OR_RETURN(c.unk, special(doc, "unk_token"));
  const std::string prefix = std::string(kFile) + ": ";
  for (const auto& [key, target] :
       {std::pair{"add_bos_token", &c.add_bos_token}, {"add_eos_token", &c.add_eos_token}}) {
    const Json* it = find_field(doc, key);
    if (it == nullptr) continue;
    if (!it->is_boolean()) return field_error(prefix + key, "expected a boolean");
    *target = it->get<bool>();
  }
  {
    const Json* it = find_field(doc, "clean_up_tokenization_spaces");
    if (it != nullptr) {
      if (!it->is_boolean())
        return field_error(prefix + "clean_up_tokenization_spaces", "expected a boolean");
      c.clean_up_tokenization_spaces = it->get<bool>();
    }
  }
  if (const Json* it = find_field(doc, "chat_template"); it != nullptr) {
    // A string, or a list of {"name", "template"} of which "default" is used.
    if (it->is_string()) {
      c.chat_template = it->get_ref<const std::string&>();
    } else if (it->is_array()) {
      for (std::size_t i = 0; i < it->size(); ++i) {
        const Json& e = (*it)[i];
        const std::string p = index_path(prefix + "chat_template", i);
        MLXS_ASSIGN_OR_RETURN(const std::string name, req_string(e, "name", p));
        MLXS_ASSIGN_OR_RETURN(std::string tmpl, req_string(e, "template", p));
        if (name == "default" || !c.chat_template) c.chat_template = std::move(tmpl);
      }
    } else {
      return field_error(prefix + "chat_template",
                         "expected a string or a list of named templates");
    }
  }
  return c;
}

}  // namespace mlxs::tokenizer
