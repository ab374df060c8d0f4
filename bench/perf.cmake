# The issue-4 benchmarks that scripts/bench.sh runs besides gemm_bench (not tests, not
# built by default): the LSTM training step (bench/lstm_bench.c on bench/lstm_step.nn) and
# the MLP's batch-1 latency through the JIT API and the AOT object (bench/latency_bench.c;
# the object and header come from api.cmake's `nnc -c` command, same directory).
add_executable(lstm_bench ${CMAKE_CURRENT_LIST_DIR}/lstm_bench.c)
target_link_libraries(lstm_bench PRIVATE nncomp ${MATH_LIBRARY})
target_compile_definitions(lstm_bench PRIVATE NNC_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

add_executable(latency_bench ${CMAKE_CURRENT_LIST_DIR}/latency_bench.c ${CMAKE_CURRENT_BINARY_DIR}/aot/fashion_mlp.o)
target_include_directories(latency_bench PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/aot)
target_link_libraries(latency_bench PRIVATE nncomp ${MATH_LIBRARY})
target_compile_definitions(latency_bench PRIVATE NNC_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
