# The extension module ssmc._apps: language models (apps/lm) and theory
# tasks (apps/tasks) for ssmc.models and ssmc.tasks. Included by
# python/CMakeLists.txt.
#
# Its PyInit__apps lives in the binary of ssmc._ssmc, and ssmc.models loads
# it from there: a second extension linking the compiler would hold a second
# copy of its pass and dialect registrations, which MLIR refuses ("pass
# allocator creates a different pass than previously registered") as soon
# as both are used in one process.

target_sources(ssmc_python_core PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src/AppsModule.cpp)
target_link_libraries(ssmc_python_core PRIVATE SSMCLanguageModels SSMCTasks)
