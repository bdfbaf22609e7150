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
endfunction()

# mlxs_test(NAME SOURCES ... LIBS ... LABELS ...)
function(mlxs_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} mlxs_testing GTest::gtest GTest::gmock
                                        GTest::gtest_main)
  mlxs_warnings(${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
                       ENVIRONMENT "MLXS_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

# The tests' own sources in the test build (Debug: the dev preset): -O0 and
# no sanitizer instrumentation. They are gtest bodies, heavy to compile and
# light to run; the code under test in src/ keeps -O1 and ASan + UBSan (and
# ASan's allocator and the sanitizer runtimes are linked into every test).
# Measured on a test file: 26.8 s of CPU at -O0 with the sanitizers, 17.8 s
# without; -O1 about three times that. A cold CI build spends most of its
# time compiling tests.
macro(mlxs_debug_build_unoptimized)
  add_compile_options($<$<AND:$<CONFIG:Debug>,$<COMPILE_LANGUAGE:CXX>>:-O0>)
  if(MLXS_SANITIZE)
    add_compile_options($<$<AND:$<CONFIG:Debug>,$<COMPILE_LANGUAGE:CXX>>:-fno-sanitize=all>)
  endif()
endmacro()
