# Job commands: bytes -> cmdline_split (against the rule of cmdline.h) and
# cmdpath_lookup of the first word under a PATH from the input.
vl_add_fuzz(NAME fuzz_cmdline SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_cmdline.c
            LIBS volley_core)
