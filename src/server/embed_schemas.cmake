# cmake -DOUT=<file.cpp> -DDIR=<schemas/http> -P embed_schemas.cmake
# Writes a C++ source holding every *.json of DIR as a string, so the server
# validates with (and serves) exactly the documents it was built with.
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
file(WRITE ${OUT}.tmp "// Generated from schemas/http by src/server/embed_schemas.cmake; do not edit.
#include \"server/http_schemas.h\"

namespace mlxs::server {

std::span<const HttpDocument> embedded_http_documents() {
  static const HttpDocument kDocuments[] = {
${body}  };
  return kDocuments;
}

}  // namespace mlxs::server
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
