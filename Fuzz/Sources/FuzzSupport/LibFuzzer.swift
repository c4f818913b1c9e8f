import CLibFuzzer

#if canImport(Glibc)
import Glibc
#endif

/// Runs libFuzzer on `testOneInput` with this process's command line (corpus folders,
/// `-max_total_time=`, …) and exits with its status.
///
/// Each target's top-level code calls this instead of relying on libFuzzer's own `main`:
/// SwiftPM links an executable with `main` aliased to the module's entry point, so that entry
/// point has to hand over to the driver.
public func runLibFuzzer(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
}
