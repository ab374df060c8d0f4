# BPTT planner benchmark (not a test, not built by default): include(bptt.cmake) from
# bench/CMakeLists.txt, then `cmake --build <dir> --target bptt_plan_bench`.
add_executable(bptt_plan_bench ${CMAKE_CURRENT_LIST_DIR}/bptt_plan_bench.c
                               ${PROJECT_SOURCE_DIR}/compiler/bptt_plan.c)
target_include_directories(bptt_plan_bench PRIVATE ${PROJECT_SOURCE_DIR}/compiler)

# The executor on an LSTM: plain BPTT vs budgets vs sqrt(T) (bench/bptt_lstm_bench.c).
add_executable(bptt_lstm_bench ${CMAKE_CURRENT_LIST_DIR}/bptt_lstm_bench.c)
target_link_libraries(bptt_lstm_bench PRIVATE nncomp nnrt)
