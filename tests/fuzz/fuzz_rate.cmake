# Rate samples of a run directory: bytes -> DIR/rate.bin -> watchlog_rate_load,
# watchlog_rate_read (persist/watchlog.c).
vl_add_fuzz(NAME fuzz_rate SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_rate.c
            LIBS volley_persist m)
