# The extension ssmc._apps: language models (apps/lm) and theory tasks
# (apps/tasks) for ssmc.models and ssmc.tasks, built next to ssmc._ssmc in
# build/python/ssmc. Included by python/CMakeLists.txt.

pybind11_add_module(ssmc_python_apps MODULE NO_EXTRAS src/AppsModule.cpp)
set_target_properties(ssmc_python_apps PROPERTIES
  OUTPUT_NAME _apps
  LIBRARY_OUTPUT_DIRECTORY ${SSMC_PYTHON_PACKAGE_DIR}
  INSTALL_RPATH "${LLVM_LIBRARY_DIR}"
  BUILD_WITH_INSTALL_RPATH OFF)
# LLVM's flags turn exceptions off; pybind11 reports errors with them.
target_compile_options(ssmc_python_apps PRIVATE -fexceptions)
target_link_libraries(ssmc_python_apps PRIVATE SSMCLanguageModels SSMCTasks)
add_dependencies(ssmc-python ssmc_python_apps)

install(TARGETS ssmc_python_apps
  LIBRARY DESTINATION ${SSMC_PYTHON_INSTALL_DIR}/ssmc COMPONENT python)
