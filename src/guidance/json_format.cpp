#include "guidance/json_format.h"

#include <map>
#include <mutex>
#include <string>

#include "guidance/dfa_ops.h"
#include "guidance/regex_dfa.h"

namespace mlxs::guidance {
namespace {

#define MLXS_DATE                                                                                  \
  "(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]" \
  "|30)|02-"                                                                                       \
  "(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|["  \
  "13579][26])"                                                                                    \
  "00)-02-29)"
#define MLXS_TIME                                                                                  \
  "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5]" \
  "[0-9])"
#define MLXS_H16 "[0-9a-fA-F]{1,4}"
#define MLXS_LABEL "[A-Za-z0-9](?:[A-Za-z0-9-]{0,60}[A-Za-z0-9])?"
#define MLXS_HOST MLXS_LABEL "(?:\\." MLXS_LABEL "){0,3}"
#define MLXS_PCT "%[0-9A-Fa-f]{2}"
#define MLXS_PCHAR "(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|" MLXS_PCT ")"
#define MLXS_QCHAR "(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|" MLXS_PCT ")"
#define MLXS_URI                                                                  \
  "[A-Za-z][A-Za-z0-9+.-]*:(?://(?:(?:[A-Za-z0-9._~!$&'()*+,;=:-]|" MLXS_PCT      \
  ")*@)?(?:[A-Za-z0-9._~!$&'()*+,;=-]|" MLXS_PCT ")*(?::[0-9]*)?(?:/" MLXS_PCHAR  \
  "*)*|/(?:" MLXS_PCHAR "+(?:/" MLXS_PCHAR "*)*)?|" MLXS_PCHAR "+(?:/" MLXS_PCHAR \
  "*)*)?(?:\\?" MLXS_QCHAR "*)?(?:#" MLXS_QCHAR "*)?"
#define MLXS_DUR_DATE "(?:[0-9]+Y(?:[0-9]+M(?:[0-9]+D)?)?|[0-9]+M(?:[0-9]+D)?|[0-9]+D)"
#define MLXS_DUR_TIME "T(?:[0-9]+H(?:[0-9]+M(?:[0-9]+S)?)?|[0-9]+M(?:[0-9]+S)?|[0-9]+S)"

struct Known {
  const char* name;
  const char* pattern;  // full match
};

constexpr Known kKnown[] = {
    {"date", MLXS_DATE},
    {"time", MLXS_TIME},
    {"date-time", MLXS_DATE "[Tt]" MLXS_TIME},
    {"duration", "P(?:" MLXS_DUR_DATE "(?:" MLXS_DUR_TIME ")?|" MLXS_DUR_TIME "|[0-9]+W)"},
    {"uuid", "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"},
    {"ipv4",
     "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]"
     "?[0-9])){3}"},
    {"ipv6",
     "(?:" MLXS_H16 ":){7}" MLXS_H16 "|(?:" MLXS_H16 ":){1,7}:|(?:" MLXS_H16 ":){1,6}:" MLXS_H16
     "|(?:" MLXS_H16 ":){1,5}(?::" MLXS_H16 "){1,2}|(?:" MLXS_H16 ":){1,4}(?::" MLXS_H16
     "){1,3}|(?:" MLXS_H16 ":){1,3}(?::" MLXS_H16 "){1,4}|(?:" MLXS_H16 ":){1,2}(?::" MLXS_H16
     "){1,5}|" MLXS_H16 ":(?::" MLXS_H16 "){1,6}|:(?::" MLXS_H16 "){1,7}|::"},
    {"hostname", MLXS_HOST},
    {"idn-hostname", MLXS_HOST},
    {"email", "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@" MLXS_HOST},
    {"idn-email",
     "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@" MLXS_HOST},
    {"uri", MLXS_URI},
    {"uri-reference", MLXS_URI},
    {"iri", MLXS_URI},
    {"iri-reference", MLXS_URI},
    {"uri-template", "[A-Za-z0-9/:._~-]*"},
    {"json-pointer", "(?:/(?:[^/~]|~[01])*)*"},
    {"relative-json-pointer", "(?:0|[1-9][0-9]*)(?:#|(?:/(?:[^/~]|~[01])*)*)"},
    {"regex", "[A-Za-z0-9 _-]*"},
};

}  // namespace

const Dfa* format_content(std::string_view name) {
  static std::mutex mutex;
  static std::map<std::string, Dfa, std::less<>> built;
  const Known* known = nullptr;
  for (const Known& k : kKnown) {
    if (name == k.name) known = &k;
  }
  if (known == nullptr) return nullptr;
  std::lock_guard lock(mutex);
  if (auto it = built.find(name); it != built.end()) return &it->second;
  auto dfa = regex_to_dfa(known->pattern, RegexMode::kFullMatch, 1u << 16);
  if (!dfa.is_ok()) return nullptr;  // a bad table entry; tests catch it
  Dfa d = std::move(dfa).value();
  if (std::string_view(known->name).find("hostname") != std::string_view::npos ||
      std::string_view(known->name).find("email") != std::string_view::npos) {
    // "??--" labels are reserved for A-labels, which the check decodes; leave them out.
    auto reserved = regex_to_dfa("(?:.*[.@])?[A-Za-z0-9-]{2}--.*", RegexMode::kFullMatch);
    if (reserved.is_ok()) {
      auto without = subtract(d, *reserved);
      if (without.is_ok()) d = std::move(without).value();
    }
  }
  return &built.emplace(std::string(name), std::move(d)).first->second;
}

}  // namespace mlxs::guidance
