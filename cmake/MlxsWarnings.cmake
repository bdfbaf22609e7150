# Warnings are errors everywhere in our code; -Wswitch-enum makes every switch
# over an enum name every enumerator (our state machines rely on it).
set(MLXS_WARNINGS
    -Wall -Wextra -Wpedantic -Werror -Wswitch-enum -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wformat=2 -Wimplicit-fallthrough)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 raises false positives on std::variant/optional moves at -O2+.
  list(APPEND MLXS_WARNINGS -Wshadow=local -Wno-maybe-uninitialized -Wno-stringop-overflow
       -Wno-array-bounds -Wno-restrict -Wno-stringop-overread)
  # -Wnull-dereference only where it is reliable: at -O3 GCC 12 reports
  # impossible null dereferences inside Boost.Asio and nlohmann/json inlined
  # into our code. The dev preset (the one CI builds) keeps it.
  list(APPEND MLXS_WARNINGS $<$<CONFIG:Debug>:-Wnull-dereference>)
elseif(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND MLXS_WARNINGS -Wno-gnu-zero-variadic-macro-arguments -Wnull-dereference)
endif()

function(mlxs_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${MLXS_WARNINGS}>)
endfunction()
