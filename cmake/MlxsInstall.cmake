# Install layout and the Debian package (scripts/package.sh builds it).
#
# Every destination is relative, so `cmake --install BUILD --prefix P` gives
# the same tree under any P (the .deb uses P = /usr):
#   bin/mlx-serving
#   share/mlx-serving/config/runtime.yaml      the default configuration
#   share/mlx-serving/schemas/...              JSON Schemas (also embedded in the binary)
#   share/mlx-serving/systemd/mlx-serving.service
#   share/mlx-serving/grafana/, prometheus/    dashboard, scrape config, alert rules
#   share/doc/mlx-serving/README.md, docs/*.md
# The unit goes to share/ rather than lib/systemd/system: it reads
# /etc/mlx-serving/runtime.yaml, which the administrator writes first, so
# enabling it stays a deliberate step (see the unit's header).
include(GNUInstallDirs)

set(MLXS_DATA_DIR ${CMAKE_INSTALL_DATADIR}/mlx-serving)

install(TARGETS mlx-serving RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/config/runtime.yaml DESTINATION ${MLXS_DATA_DIR}/config)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/schemas/ DESTINATION ${MLXS_DATA_DIR}/schemas
        FILES_MATCHING PATTERN "*.json")
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/mlx-serving.service
        DESTINATION ${MLXS_DATA_DIR}/systemd)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/grafana/mlx-serving.json
        DESTINATION ${MLXS_DATA_DIR}/grafana)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/prometheus/prometheus.yml
              ${PROJECT_SOURCE_DIR}/deploy/prometheus/alerts.yml
        DESTINATION ${MLXS_DATA_DIR}/prometheus)
# README.md links docs/*.md relatively; the same layout keeps the links working.
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB MLXS_DOC_PAGES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${MLXS_DOC_PAGES} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)

# ---------------------------------------------------------------- CPack (DEB)
set(MLXS_PACKAGE_MAINTAINER "mlx-serving maintainers <mlx-serving@localhost>"
    CACHE STRING "Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mlx-serving)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${MLXS_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "LLM serving engine with an OpenAI-compatible HTTP API")
set(CPACK_PACKAGE_DESCRIPTION
    "mlx-serving loads Hugging Face model directories (safetensors) and serves them on the CPU\
 or NVIDIA GPUs through an OpenAI-compatible HTTP API and the JSON-RPC protocol of the\
 original mlx-serving, with supervised worker processes, circuit breakers and Prometheus\
 metrics. One executable; configuration, schemas, a systemd unit, a Grafana dashboard and\
 Prometheus rules are under /usr/share/mlx-serving.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_NAME mlx-serving)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${MLXS_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# mlx-serving_<version>_<arch>.deb, as Debian names its packages.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Runtime dependencies from the binary's own shared libraries when
# dpkg-shlibdeps (dpkg-dev) can compute them; otherwise Debian 12's names of
# what the executable links as a fallback. With the CUDA backend the CUDA
# runtime libraries must come from Debian packages (NVIDIA's apt repository)
# for dpkg-shlibdeps to name them; a runfile install makes it fail.
find_program(MLXS_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(MLXS_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libc6, libstdc++6, libgcc-s1, libfmt9, libyaml-cpp0.7, libpcre2-8-0, libxxhash0, libhwy1, libpng16-16, libjpeg62-turbo, libwebp7, libwebpdemux2, libgif7")
endif()
if(CMAKE_BUILD_TYPE MATCHES "^(Release|MinSizeRel)$")
  set(CPACK_STRIP_FILES ON)
endif()
# `cpack --config CPackSourceConfig.cmake` would otherwise sweep in build
# trees and node_modules.
set(CPACK_SOURCE_IGNORE_FILES "/build[^/]*/" "/node_modules/" "/\\\\.git/" "/\\\\.cache/")

include(CPack)
