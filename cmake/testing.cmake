# vx_test(NAME name SOURCES ... LIBS ... LABEL unit|integration|bench):
# one cmocka binary per module, registered with CTest under its label.
enable_testing()
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/test-logs)
function(vx_test)
    cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
    add_executable(${T_NAME} ${T_SOURCES})
    vx_warnings(${T_NAME})
    target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
    set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME ${T_NAME} COMMAND ${T_NAME})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 300)
    endif()
    # 77: skipped as a whole (VX_TEST_SKIP in tests/support/vx_test_env.h)
    set_tests_properties(${T_NAME} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
        ENVIRONMENT "VX_BIN_DIR=${CMAKE_BINARY_DIR}/bin;VX_SOURCE_DIR=${CMAKE_SOURCE_DIR};VX_TEST_LOG_DIR=${CMAKE_BINARY_DIR}/test-logs")
endfunction()
