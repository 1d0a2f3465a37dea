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
    /// delays the answer. `delivery` says what became of the answer.
    mutating func afterResponse(_ delivery: Delivery)
}

extension LambdaHandler {
    public mutating func afterResponse(_ delivery: Delivery) {}
}

/// What became of an invocation's answer.
public enum Delivery: Sendable, Equatable {
    /// Posted: the response to `/response`, or the handler's error to `/error`.
    case posted
    /// The response was over Lambda's limit, so an error saying so was posted instead.
    case tooLarge(bytes: Int)
    /// The Runtime API refused the post (a 4xx: the invocation is over, or the answer is not
    /// acceptable); the runtime goes on with the next invocation.
    case refused(status: Int)
    /// Posting failed for good (5xx, or the Runtime API is gone); the process is about to exit.
    case failed
}

/// The event loop of a custom runtime: `/next`, handle, `/response` or `/error`, forever.
public enum LambdaRuntime {
    /// The largest response Lambda takes from a function invoked synchronously: 6 MiB (Lambda
    /// itself allows 100 bytes more; the Runtime Interface Emulator exactly this).
    public static let maximumResponseBytes = 6 * 1024 * 1024

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

            let requestID = invocation.context.requestID
            let answer: Result<Data, FunctionError>
            do {
                answer = .success(try handler.handle(invocation))
            } catch {
                answer = .failure(error)
            }
            do {
                handler.afterResponse(try deliver(answer, for: requestID, to: runtime, logger: logger))
            } catch {
                // The invocation's log line comes first, then the fatal one.
                handler.afterResponse(.failed)
                logger.log(.fatal, "stopping: \(error)", requestID: requestID)
                return 1
            }
        }
    }

    /// Posts the answer. A response over Lambda's limit is never sent: an error saying so goes
    /// instead, so the caller learns why and the process keeps serving. A refusal (4xx) ends
    /// only the invocation; a 5xx or a lost connection ends the process, as the Runtime API
    /// contract asks ("non-recoverable state, exit promptly").
    private static func deliver(
        _ answer: Result<Data, FunctionError>, for requestID: String, to runtime: RuntimeClient, logger: Logger
    ) throws(RuntimeAPIError) -> Delivery {
        do throws(RuntimeAPIError) {
            switch answer {
            case .success(let response) where response.count > maximumResponseBytes:
                logger.log(.error, "response over Lambda's limit, reported as an error instead", requestID: requestID,
                           ["bytes": .int(response.count), "limit": .int(maximumResponseBytes)])
                try runtime.reportError(requestID: requestID, FunctionError(
                    .runtime, type: "ResponseTooLarge",
                    message: "the function's response of \(response.count) bytes is over Lambda's limit of \(maximumResponseBytes) bytes"))
                return .tooLarge(bytes: response.count)
            case .success(let response):
                do throws(RuntimeAPIError) {
                    try runtime.respond(requestID: requestID, body: response)
                } catch .unexpectedStatus(_, let status, let body) where status == 413 {
                    // Lambda's limit is not ours after all: say so through /error.
                    logger.log(.error, "Runtime API rejected the response", requestID: requestID,
                               ["status": .int(status), "bytes": .int(response.count), "answer": .string(body)])
                    try runtime.reportError(requestID: requestID, FunctionError(
                        .runtime, type: "ResponseTooLarge",
                        message: "Lambda refused the function's response of \(response.count) bytes as too large (HTTP 413)"))
                    return .tooLarge(bytes: response.count)
                }
                return .posted
            case .failure(let error):
                try runtime.reportError(requestID: requestID, error)
                return .posted
            }
        } catch .unexpectedStatus(let path, let status, let body) where (400..<500).contains(status) {
            logger.log(.error, "Runtime API refused the answer; going on with the next invocation", requestID: requestID,
                       ["path": .string(path), "status": .int(status), "answer": .string(body)])
            return .refused(status: status)
        }
    }
}
