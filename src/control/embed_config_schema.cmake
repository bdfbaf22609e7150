# cmake -DOUT=<file.cpp> -DSRC=<schemas/config.schema.json> -P embed_config_schema.cmake
# Writes a C++ source holding the configuration's JSON Schema, so that the
# binary validates with (and `config schema` prints) the document it was
# built with.
file(READ ${SRC} text)
string(FIND "${text}" ")mlxs_config\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${SRC} contains the raw-string delimiter")
endif()
file(WRITE ${OUT}.tmp "// Generated from schemas/config.schema.json; do not edit.
#include \"control/config_schema.h\"

namespace mlxs::control {

std::string_view config_schema_text() {
  static constexpr std::string_view kText = R\"mlxs_config(${text})mlxs_config\";
  return kText;
}

}  // namespace mlxs::control
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
