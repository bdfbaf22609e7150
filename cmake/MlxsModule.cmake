# mlxs_module(NAME SOURCES ... [DEPS mlxs_x ...] [EXTERNAL lib ...])
# One static library per src/ module; DEPS are the modules it may use
# (../shared/DESIGN.md §2). Includes are rooted at src/ ("core/status.h").
function(mlxs_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;EXTERNAL;PRIVATE_EXTERNAL" ${ARGN})
  add_library(mlxs_${name} STATIC ${M_SOURCES})
  target_include_directories(mlxs_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src
                                                ${PROJECT_BINARY_DIR}/generated)
  target_link_libraries(mlxs_${name} PUBLIC ${M_DEPS} ${M_EXTERNAL}
                        PRIVATE ${M_PRIVATE_EXTERNAL})
  mlxs_warnings(mlxs_${name})
  if(name IN_LIST MLXS_FUZZ_EDGE_ONLY)
    target_compile_options(mlxs_${name} PRIVATE
      $<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize-coverage=inline-8bit-counters,pc-table>)
  elseif(name IN_LIST MLXS_FUZZ_COVERED)
    target_compile_options(mlxs_${name} PRIVATE $<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=fuzzer-no-link>)
  endif()
  mlxs_debug_unoptimized(mlxs_${name} ${name})
endfunction()

# -O0 in Debug builds for the modules listed in MLXS_DEBUG_UNOPTIMIZED (the
# top-level CMakeLists.txt says why); the later -O wins over the preset's -O1.
function(mlxs_debug_unoptimized target name)
  if(name IN_LIST MLXS_DEBUG_UNOPTIMIZED)
    target_compile_options(${target} PRIVATE $<$<AND:$<CONFIG:Debug>,$<COMPILE_LANGUAGE:CXX>>:-O0>)
  endif()
endfunction()

# mlxs_test(NAME SOURCES ... LIBS ... LABELS ...)
function(mlxs_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} mlxs_testing GTest::gtest GTest::gmock
                                        GTest::gtest_main)
  mlxs_warnings(${name})
  if(TARGET mlxs_test_pch)  # tests/CMakeLists.txt
    target_precompile_headers(${name} REUSE_FROM mlxs_test_pch)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
                       ENVIRONMENT "MLXS_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
