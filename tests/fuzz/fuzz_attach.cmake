# fuzz_attach: arbitrary bytes as an arena segment (shm/arena.c attach).
vl_add_fuzz(NAME fuzz_attach SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_attach.c
            LIBS volley_shm volley_loader volley_base)
