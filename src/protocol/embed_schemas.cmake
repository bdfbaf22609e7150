# cmake -DOUT=<file.cpp> -DDIR=<schemas/rpc> -P embed_schemas.cmake
# Writes a C++ source holding every *.json of DIR as a string, so the binary
# carries the schema documents it validates with (no files to install).
file(GLOB docs RELATIVE ${DIR} ${DIR}/*.json)
list(SORT docs)
set(body "")
foreach(doc ${docs})
  file(READ ${DIR}/${doc} text)
  string(FIND "${text}" ")mlxs_schema\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${doc} contains the raw-string delimiter")
  endif()
  string(REGEX REPLACE "\\.json$" "" name ${doc})
  string(APPEND body "    {\"${name}\", R\"mlxs_schema(${text})mlxs_schema\"},\n")
endforeach()
list(LENGTH docs count)
file(WRITE ${OUT}.tmp "// Generated from schemas/rpc by src/protocol/embed_schemas.cmake; do not edit.
#include \"protocol/schemas.h\"

namespace mlxs::protocol {

std::span<const EmbeddedDocument> embedded_rpc_documents() {
  static const EmbeddedDocument kDocuments[] = {
${body}  };
  return kDocuments;
}

}  // namespace mlxs::protocol
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
