# Debian package: `cpack -G DEB` in a build configured with -DCMAKE_INSTALL_PREFIX=/usr (then the
# library lands in /usr/lib/<multiarch>, the Python package in /usr/lib/python3/dist-packages):
# scripts/package_deb.sh does both and checks the package installs and works.
# One package: the CLI, libmetrix.so / .a, headers, pkg-config file and the Python package.
set(CPACK_PACKAGE_NAME metrix)
set(CPACK_PACKAGE_VENDOR "metrix")
set(CPACK_PACKAGE_CONTACT "metrix maintainers <metrix@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "deep metric learning with mixup (Metrix, ICLR 2022)")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "C11 library, command-line tool (metrix train / eval / embed / search) and Python package "
       "(import metrix: losses as torch modules, Metrix mixing, retrieval evaluation) for deep "
       "metric learning with mixup. Building C programs against it with pkg-config needs the "
       "development packages listed in Suggests.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON) # the shared libraries the binaries link (dpkg-shlibdeps)
# OpenBLAS: the OpenMP build (one OpenMP pool with oneDNN); shlibdeps only sees libopenblas0
set(CPACK_DEBIAN_PACKAGE_DEPENDS "python3, python3-numpy, libopenblas0-openmp")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-torch")
string(CONCAT CPACK_DEBIAN_PACKAGE_SUGGESTS
       "python3-torchvision, dataset-fashion-mnist, pkg-config, libdnnl-dev, "
       "libopenblas-openmp-dev, libturbojpeg0-dev, libpng-dev, zlib1g-dev, libmatio-dev, "
       "libcairo2-dev, libjson-c-dev, libfreetype-dev")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_GENERATOR DEB)
include(CPack)
