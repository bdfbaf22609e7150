// Pattern and subject separated by the first NUL byte: a pattern either
// compiles or is a coded syntax error, and matching always terminates with
// consistent answers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "schema/regex.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  const std::string_view pattern = input.substr(0, nul);
  const std::string_view subject =
      nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  mlxs::schema::RegexOptions options;
  options.max_program_size = 5000;
  auto re = mlxs::schema::Regex::compile(pattern, options);
  const bool syntax_ok = mlxs::schema::Regex::check_syntax(pattern).is_ok();
  if (!re) {
    if (re.status().code() != mlxs::core::ErrorCode::kInvalidParams) __builtin_trap();
    return 0;
  }
  if (!syntax_ok) __builtin_trap();  // what compiles is valid syntax
  const bool found = re->search(subject);
  const bool whole = re->full_match(subject);
  if (whole && !found) __builtin_trap();
  return 0;
}
