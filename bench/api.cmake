# API, REPL, cache and AOT benchmark (not a test, not built by default): include(api.cmake)
# from bench/CMakeLists.txt, then `cmake --build <dir> --target api_bench && <dir>/bench/api_bench`.
set(_aotb ${CMAKE_CURRENT_BINARY_DIR}/aot)
add_custom_command(OUTPUT ${_aotb}/fashion_mlp.o ${_aotb}/fashion_mlp.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${_aotb}
  COMMAND nnc --no-cache -c ${PROJECT_SOURCE_DIR}/examples/fashion_mlp.nn -o ${_aotb}/fashion_mlp.o
  DEPENDS nnc ${PROJECT_SOURCE_DIR}/examples/fashion_mlp.nn VERBATIM)
add_executable(api_bench ${CMAKE_CURRENT_LIST_DIR}/api_bench.c ${_aotb}/fashion_mlp.o)
target_include_directories(api_bench PRIVATE ${_aotb})
target_link_libraries(api_bench PRIVATE nncomp)
target_compile_definitions(api_bench PRIVATE NNC_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                           NNC_EXE="$<TARGET_FILE:nnc>")
add_dependencies(api_bench nnc)
