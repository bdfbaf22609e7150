// Any text as a GBNF grammar: compiles or is a GuidanceError; what compiles
// gives masks equal to brute force and never a dead end.
#include "constraint_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mlxs::guidance::fuzz::run(mlxs::guidance::ConstraintSpec::Kind::kGrammar,
                            std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
