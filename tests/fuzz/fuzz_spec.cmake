# The workflow loader: bytes -> spec_load_buffer -> spec_check.
vl_add_fuzz(NAME fuzz_spec SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_spec.c LIBS volley_loader)
