# Job-log indexes: bytes -> logread_check_index, logread_copy, logread_last_attempt.
vl_add_fuzz(NAME fuzz_logindex SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_logindex.c
            LIBS volley_core)
