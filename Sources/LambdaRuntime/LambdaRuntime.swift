#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A function that turns one event into one response.
public protocol LambdaHandler {
    /// The response body to post to `/response`, or the error to post to `/error`.
    mutating func handle(_ invocation: Invocation) throws(FunctionError) -> Data

    /// Runs once the answer (response or error) is posted, or posting it failed, and before the
    /// next `/next`: for work the caller need not wait for, such as writing the invocation's log
    /// line. Lambda bills this time and keeps its logs with the invocation; it just no longer
    /// delays the answer.
    mutating func afterResponse()
}

extension LambdaHandler {
    public mutating func afterResponse() {}
}

/// The event loop of a custom runtime: `/next`, handle, `/response` or `/error`, forever.
public enum LambdaRuntime {
    /// Runs until the Runtime API goes away; returns the process exit status.
    ///
    /// `makeHandler` runs once, before the first `/next`; an error from it is posted to
    /// `/runtime/init/error` and ends the process, as Lambda expects of a failed init.
    public static func run<Handler: LambdaHandler>(
        environment: [String: String],
        logger: Logger,
        makeHandler: () throws(FunctionError) -> Handler
    ) -> Int32 {
        guard let endpoint = environment["AWS_LAMBDA_RUNTIME_API"], !endpoint.isEmpty else {
            logger.log(.fatal, "AWS_LAMBDA_RUNTIME_API is not set: this binary runs as a Lambda custom runtime (or under the Runtime Interface Emulator)")
            return 1
        }
        let shutdown = ShutdownGuard(logger: logger)
        let runtime: RuntimeClient
        do {
            runtime = try RuntimeClient(endpoint: endpoint)
        } catch {
            logger.log(.fatal, "could not set up the Runtime API client: \(error)")
            return 1
        }

        var handler: Handler
        do {
            handler = try makeHandler()
        } catch {
            logger.log(.fatal, "initialisation failed: \(error.message)", ["errorType": .string(error.type)])
            do {
                try runtime.reportInitError(error)
            } catch {
                logger.log(.fatal, "could not report the init error: \(error)")
            }
            return 1
        }

        while true {
            let invocation: Invocation
            do {
                invocation = try runtime.next()
            } catch {
                logger.log(.fatal, "stopping: \(error)")
                return 1
            }
            shutdown.beginInvocation()
            defer { shutdown.endInvocation() }
            setTraceEnvironment(invocation.context.traceID)

            let requestID = invocation.context.requestID
            do {
                // Also when posting failed: the invocation's log line then precedes the fatal one.
                defer { handler.afterResponse() }
                do {
                    let response = try handler.handle(invocation)
                    try deliver(response, for: requestID, to: runtime, logger: logger)
                } catch let error as FunctionError {
                    try runtime.reportError(requestID: requestID, error)
                }
            } catch let error as RuntimeAPIError {
                logger.log(.fatal, "stopping: \(error)", requestID: requestID)
                return 1
            } catch {
                logger.log(.fatal, "stopping: \(error)", requestID: requestID)
                return 1
            }
        }
    }

    /// A response the Runtime API refuses (413 for one over 6 MiB) becomes an invocation error,
    /// so the caller learns why and the process keeps serving.
    private static func deliver(_ response: Data, for requestID: String, to runtime: RuntimeClient, logger: Logger) throws(RuntimeAPIError) {
        do {
            try runtime.respond(requestID: requestID, body: response)
        } catch .unexpectedStatus(_, let status, let body) {
            logger.log(.error, "Runtime API rejected the response", requestID: requestID,
                       ["status": .int(status), "bytes": .int(response.count)])
            let error = FunctionError(
                .runtime, type: status == 413 ? "ResponseTooLarge" : "ResponseRejected",
                message: "Lambda rejected the function's response of \(response.count) bytes (HTTP \(status)): \(body)")
            try runtime.reportError(requestID: requestID, error)
        }
    }

    /// Lambda's X-Ray integration reads the trace header from `_X_AMZN_TRACE_ID`; it must describe
    /// this invocation, and must not linger from the previous one. `setenv` is not thread-safe,
    /// which is fine: this runs on the loop thread before the handler.
    private static func setTraceEnvironment(_ traceID: String?) {
        if let traceID {
            setenv("_X_AMZN_TRACE_ID", traceID, 1)
        } else {
            unsetenv("_X_AMZN_TRACE_ID")
        }
    }
}
