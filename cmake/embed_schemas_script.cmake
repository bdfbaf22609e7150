# cmake -DOUT=<file.cpp> -DDIR=<dir> -DHEADER=<h> -DNAMESPACE=<ns> -DFUNCTION=<fn> -DTYPE=<T>
#       -P embed_schemas_script.cmake
# The worker behind mlxs_embed_schemas (EmbedSchemas.cmake): every *.json of
# DIR as a raw string, sorted by name.
get_filename_component(dir_name ${DIR} NAME)
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
file(WRITE ${OUT}.tmp "// Generated from schemas/${dir_name} by cmake/embed_schemas_script.cmake; do not edit.
#include \"${HEADER}\"

namespace ${NAMESPACE} {

std::span<const ${TYPE}> ${FUNCTION}() {
  static const ${TYPE} kDocuments[] = {
${body}  };
  return kDocuments;
}

}  // namespace ${NAMESPACE}
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
