# The pure-Python package python/metrix (ctypes over libmetrix.so, numpy; torch for the losses):
# installed where Debian's /usr/bin/python3 finds it, and its tests registered in ctest.
#   MX_PYTHON                  interpreter of the tests (default /usr/bin/python3)
#   MX_PYTHON_INSTALL_DIR      package destination, relative to the install prefix
#                              (default: lib/python3/dist-packages for prefix /usr, else
#                              lib/python3.X/dist-packages, which Debian's python3 searches)
set(MX_PYTHON /usr/bin/python3 CACHE FILEPATH "Python interpreter of the Python tests")
if(NOT MX_PYTHON_INSTALL_DIR)
  set(_mx_pydir lib/python3/dist-packages)
  if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr" AND EXISTS ${MX_PYTHON})
    execute_process(COMMAND ${MX_PYTHON} -c "import sys; print('%d.%d' % sys.version_info[:2])"
                    OUTPUT_VARIABLE _mx_pyver OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(_mx_pyver)
      set(_mx_pydir lib/python${_mx_pyver}/dist-packages)
    endif()
  endif()
  set(MX_PYTHON_INSTALL_DIR ${_mx_pydir} CACHE STRING
      "Python package destination, relative to the install prefix")
endif()
if(IS_ABSOLUTE "${MX_PYTHON_INSTALL_DIR}")
  message(FATAL_ERROR "MX_PYTHON_INSTALL_DIR must be relative to the install prefix")
endif()

# _install.py tells the installed package where libmetrix.so.0 is, relative to itself.
file(RELATIVE_PATH MX_PY_TO_LIBDIR "/prefix/${MX_PYTHON_INSTALL_DIR}/metrix"
     "/prefix/${CMAKE_INSTALL_LIBDIR}")
file(WRITE ${PROJECT_BINARY_DIR}/python_install/_install.py
     "# written by cmake: libdir relative to this package\nLIBDIR_FROM_PACKAGE = \"${MX_PY_TO_LIBDIR}\"\n")
install(DIRECTORY python/metrix DESTINATION ${MX_PYTHON_INSTALL_DIR}
        PATTERN "__pycache__" EXCLUDE PATTERN "*.pyc" EXCLUDE)
install(FILES ${PROJECT_BINARY_DIR}/python_install/_install.py
        DESTINATION ${MX_PYTHON_INSTALL_DIR}/metrix)

# Tests: the package from the source tree against this build's library and CLI. Not under the
# sanitizers (an instrumented libmetrix.so cannot be loaded into an uninstrumented python3).
if(MX_BUILD_TESTS AND NOT MX_SANITIZE AND EXISTS ${MX_PYTHON})
  set(MX_PY_ENV "PYTHONPATH=${PROJECT_SOURCE_DIR}/python"
                "METRIX_LIBRARY=$<TARGET_FILE:metrix_shared>" "METRIX_CLI=$<TARGET_FILE:metrix>"
                "OMP_NUM_THREADS=2")
  foreach(t losses mix eval)
    add_test(NAME test_py_${t} COMMAND ${MX_PYTHON} ${PROJECT_SOURCE_DIR}/tests/py/test_${t}.py)
    set_tests_properties(test_py_${t} PROPERTIES ENVIRONMENT "${MX_PY_ENV}" SKIP_RETURN_CODE 77
                                                 TIMEOUT 300 LABELS python)
  endforeach()
  # the PyTorch example, a few steps (the full run: examples/pytorch_metrix.py without --short)
  add_test(NAME test_py_example COMMAND ${MX_PYTHON} ${PROJECT_SOURCE_DIR}/examples/pytorch_metrix.py
                                        --short)
  set_tests_properties(test_py_example PROPERTIES ENVIRONMENT "${MX_PY_ENV}" SKIP_RETURN_CODE 77
                                                  TIMEOUT 600 LABELS python)
endif()
