import LambdaRuntime
import Summarizer

#if canImport(Glibc)
import Glibc
#endif

// The Lambda `bootstrap`: read the configuration once, then serve invocations (on one handler per
// worker, each with its own SageMaker connection) until Lambda stops us. `_exit`, because other
// workers' threads may still be inside libcurl.
let environment = ProcessEnvironment.current()
let logger = Logger.fromEnvironment(environment)
_exit(LambdaRuntime.run(environment: environment, logger: logger) { () throws(FunctionError) in
    let configuration = try SummarizerHandler.configuration(from: environment)
    let telemetry = Telemetry.fromEnvironment(environment)
    return { () throws(FunctionError) in try SummarizerHandler(configuration: configuration, logger: logger, telemetry: telemetry) }
})
