# fuzz_snapshot: arbitrary bytes as a run's volley.db (persist/snap.c's restore).
vl_add_fuzz(NAME fuzz_snapshot SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_snapshot.c
            LIBS volley_persist)
