# Every dependency comes from Debian 12's packages (scripts/setup.sh installs
# them); docs/architecture.md says why each was chosen.
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(fmt 9 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(hwy REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
# Image decoders (src/image).
find_package(PNG REQUIRED)
find_package(JPEG REQUIRED)
find_package(GIF 5 REQUIRED)
pkg_check_modules(WEBP REQUIRED IMPORTED_TARGET libwebp)
pkg_check_modules(WEBPDEMUX REQUIRED IMPORTED_TARGET libwebpdemux)  # animated WebP
# TLS for images fetched from allowed https URLs (src/runtime/image_url).
find_package(OpenSSL 3 REQUIRED)
if(MLXS_TESTS)
  find_package(GTest REQUIRED)
endif()
