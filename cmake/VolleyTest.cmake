# vl_add_test(NAME n SOURCES a.c... [LIBS l...] [LABELS l...] [TIMEOUT s]
#             [ARGS a...] [ENV k=v...])
# One ctest per call: the binary is built from SOURCES (with tests/lib on the
# include path); exit code 77 means skipped (STYLE.md section 7).
function(vl_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS;ENV" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests/lib)
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
                       LABELS "${T_LABELS}")
  set(env "VOLLEY_SRC=${PROJECT_SOURCE_DIR}" "VOLLEY_BIN=$<TARGET_FILE_DIR:volley>/volley"
          ${T_ENV})
  set_tests_properties(${T_NAME} PROPERTIES ENVIRONMENT "${env}")
endfunction()

# vl_add_script_test(NAME n COMMAND cmd... [LABELS l...] [TIMEOUT s] [ENV k=v...])
# A test that runs a script (bash, python3) against the built volley binary.
function(vl_add_script_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "COMMAND;LABELS;ENV" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
  set(env "VOLLEY_SRC=${PROJECT_SOURCE_DIR}" "VOLLEY_BIN=$<TARGET_FILE:volley>" ${T_ENV})
  set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
                       LABELS "${T_LABELS}" ENVIRONMENT "${env}")
endfunction()
