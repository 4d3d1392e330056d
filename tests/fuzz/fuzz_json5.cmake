# The JSON5 reader: bytes -> spec_load_buffer("fuzz.json5") -> spec_check,
# and the same bytes as .json through libyaml must give the same spec.
vl_add_fuzz(NAME fuzz_json5 SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_json5.c LIBS volley_loader)
