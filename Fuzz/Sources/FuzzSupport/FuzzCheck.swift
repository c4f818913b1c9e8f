/// Stops the fuzzer with a message: libFuzzer records the input that got here as a crash.
public func fuzzFailure(_ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) -> Never {
    fatalError(message(), file: file, line: line)
}

/// `fuzzFailure` unless `condition` holds.
public func fuzzCheck(
    _ condition: @autoclosure () -> Bool,
    _ message: @autoclosure () -> String,
    file: StaticString = #file,
    line: UInt = #line
) {
    if !condition() { fuzzFailure(message(), file: file, line: line) }
}
