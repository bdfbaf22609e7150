# mlxs_embed_schemas(OUT <var> DIR <schemas/x> HEADER <h> NAMESPACE <ns> FUNCTION <fn> TYPE <T>)
# Compiles every *.json of DIR into a generated C++ source defining
# `std::span<const T> NAMESPACE::FUNCTION()` (declared in HEADER), so the
# binary validates with (and serves) exactly the documents it was built with.
# Sets <var> to the generated file, to be listed among a target's sources.
set(MLXS_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_schemas_script.cmake)

function(mlxs_embed_schemas)
  cmake_parse_arguments(E "" "OUT;DIR;HEADER;NAMESPACE;FUNCTION;TYPE" "" ${ARGN})
  file(GLOB files CONFIGURE_DEPENDS ${E_DIR}/*.json)
  get_filename_component(dir_name ${E_DIR} NAME)
  set(cpp ${CMAKE_CURRENT_BINARY_DIR}/${dir_name}_schemas_embedded.cpp)
  add_custom_command(
    OUTPUT ${cpp}
    COMMAND ${CMAKE_COMMAND} -DOUT=${cpp} -DDIR=${E_DIR} -DHEADER=${E_HEADER}
            -DNAMESPACE=${E_NAMESPACE} -DFUNCTION=${E_FUNCTION} -DTYPE=${E_TYPE}
            -P ${MLXS_EMBED_SCRIPT}
    DEPENDS ${files} ${MLXS_EMBED_SCRIPT}
    COMMENT "Embedding schemas/${dir_name}")
  set(${E_OUT} ${cpp} PARENT_SCOPE)
endfunction()
