import LambdaRuntime
import Summarizer

#if canImport(Glibc)
import Glibc
#endif

// The Lambda `bootstrap`: read the configuration, then serve invocations until Lambda stops us.
let environment = ProcessEnvironment.current()
let logger = Logger.fromEnvironment(environment)
exit(LambdaRuntime.run(environment: environment, logger: logger) { () throws(FunctionError) in
    try SummarizerHandler.fromEnvironment(environment, logger: logger)
})
