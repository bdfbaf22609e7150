# MLXS_CPU_BACKEND_ONLY: core, tensor, backend/cpu and backend_cpu_test with
# nothing but a compiler, so that they build for another architecture
# (scripts/cross-aarch64.sh, cmake/aarch64-linux-gnu.cmake). Debian's library
# packages are installed for the host's architecture only, so:
# - fmt is used header-only and nlohmann/json is header-only anyway;
# - Highway is used from its headers, with a stand-in for libhwy's run-time
#   target selection (cmake/hwy_runtime_aarch64.cpp): Debian ships libhwy for
#   arm64 only as a foreign-architecture package;
# - googletest is built from Debian's sources (/usr/src/googletest).
# Their headers are architecture-independent; they are linked one directory
# at a time into the build tree, since adding the host's /usr/include itself
# would shadow the cross sysroot's C library headers.
if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  message(FATAL_ERROR "MLXS_CPU_BACKEND_ONLY supports aarch64 (cmake/aarch64-linux-gnu.cmake)")
endif()
find_package(Threads REQUIRED)

set(MLXS_HOST_HEADERS ${PROJECT_BINARY_DIR}/host-include)
file(MAKE_DIRECTORY ${MLXS_HOST_HEADERS})
foreach(dir fmt nlohmann hwy)
  if(NOT EXISTS /usr/include/${dir})
    message(FATAL_ERROR "/usr/include/${dir} is missing: run scripts/setup.sh")
  endif()
  file(CREATE_LINK /usr/include/${dir} ${MLXS_HOST_HEADERS}/${dir} SYMBOLIC)
endforeach()

add_library(fmt::fmt INTERFACE IMPORTED)
set_target_properties(fmt::fmt PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${MLXS_HOST_HEADERS}
                                          INTERFACE_COMPILE_DEFINITIONS FMT_HEADER_ONLY=1)
add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
                      INTERFACE_INCLUDE_DIRECTORIES ${MLXS_HOST_HEADERS})
add_library(mlxs_hwy_runtime STATIC ${PROJECT_SOURCE_DIR}/cmake/hwy_runtime_aarch64.cpp)
target_include_directories(mlxs_hwy_runtime SYSTEM PUBLIC ${MLXS_HOST_HEADERS})
mlxs_warnings(mlxs_hwy_runtime)
add_library(hwy::hwy ALIAS mlxs_hwy_runtime)

if(MLXS_TESTS)
  if(NOT EXISTS /usr/src/googletest/CMakeLists.txt)
    message(FATAL_ERROR "/usr/src/googletest is missing: run scripts/setup.sh (googletest)")
  endif()
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  # SYSTEM: our warnings-as-errors stay off googletest's headers, as they are
  # for the system package's.
  add_subdirectory(/usr/src/googletest ${PROJECT_BINARY_DIR}/googletest EXCLUDE_FROM_ALL SYSTEM)
  # backend_cpu_test includes nothing of tests/testing (which needs the model
  # module); mlxs_test links it, so it is an empty stand-in here.
  add_library(mlxs_testing INTERFACE)
endif()

add_subdirectory(src/core)
add_subdirectory(src/tensor)
add_subdirectory(src/backend/cpu)
if(MLXS_TESTS)
  enable_testing()
  add_subdirectory(tests/backend/cpu)
endif()
