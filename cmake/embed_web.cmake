# cmake -DOUT=<file.cpp> -DDIR=<web> -P embed_web.cmake
# Compiles every file under web/ into a generated C++ source defining
# `std::span<const WebAsset> mlxs::server::embedded_web_assets()`
# (server/web_assets.h), sorted by path, each with an ETag taken from its
# content: the binary serves the UI it was built with, and no Node.js or
# network is needed to build or run it. Only text files are accepted, so each
# fits a raw string literal.
file(GLOB_RECURSE files RELATIVE ${DIR} ${DIR}/*)
list(SORT files)
set(body "")
foreach(rel ${files})
  if(NOT rel MATCHES "\\.(html|css|js|svg|json|txt)$")
    message(FATAL_ERROR "web/${rel}: only text assets (html, css, js, svg, json, txt) are embedded")
  endif()
  if(NOT rel MATCHES "^[A-Za-z0-9_./-]+$")
    message(FATAL_ERROR "web/${rel}: asset names are letters, digits, '_', '-', '.' and '/'")
  endif()
  file(READ ${DIR}/${rel} text)
  string(FIND "${text}" ")mlxs_web\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "web/${rel} contains the raw-string delimiter")
  endif()
  string(SHA256 digest "${text}")
  string(SUBSTRING ${digest} 0 20 digest)
  string(APPEND body "    {\"${rel}\", \"\\\"${digest}\\\"\", R\"mlxs_web(${text})mlxs_web\"},\n")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from web/ by cmake/embed_web.cmake; do not edit.
#include \"server/web_assets.h\"

namespace mlxs::server {

std::span<const WebAsset> embedded_web_assets() {
  static const WebAsset kAssets[] = {
${body}  };
  return kAssets;
}

}  // namespace mlxs::server
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
