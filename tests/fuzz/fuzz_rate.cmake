# Rate samples of a run directory: bytes -> DIR/rate.bin -> watchlog_rate_load,
# watchlog_rate_read (tools/watchlog.c, compiled in as the volley binary has it).
vl_add_fuzz(NAME fuzz_rate
            SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_rate.c ${PROJECT_SOURCE_DIR}/tools/watchlog.c
                    ${PROJECT_SOURCE_DIR}/tools/json.c
            LIBS volley_persist volley_shm volley_base m)
