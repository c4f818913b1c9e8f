// libFuzzer's driver, for an executable that owns `main` (SwiftPM renames an executable's entry
// point, which hides libFuzzer's own `main`). It lives in the runtime that `-sanitize=fuzzer`
// links; see llvm-project compiler-rt/lib/fuzzer/FuzzerInterface.h.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
