import HTTP

/// A function that turns one event into one response.
public protocol LambdaHandler {
    /// The response body to post to `/response`, or the error to post to `/error`.
    mutating func handle(_ invocation: Invocation) throws(FunctionError) -> [UInt8]

    /// Runs once the answer (response or error) is posted, or posting it failed, and before the
    /// next `/next`: for work the caller need not wait for, such as writing the invocation's log
    /// line. Lambda bills this time and keeps its logs with the invocation, but the caller does
    /// not wait for it. `delivery` says what became of the answer.
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

/// The event loop of a custom runtime: `/next`, handle, `/response` or `/error`, forever; with
/// `AWS_LAMBDA_MAX_CONCURRENCY` = N ≥ 2 (Lambda Managed Instances), N such loops at once.
public enum LambdaRuntime {
    /// The largest response Lambda takes from a function invoked synchronously: 6 MiB (Lambda
    /// itself allows 100 bytes more; the Runtime Interface Emulator exactly this).
    public static let maximumResponseBytes = 6 * 1024 * 1024

    /// The most workers one process runs: Lambda's own ceiling for PerExecutionEnvironmentMaxConcurrency.
    public static let maximumConcurrency = 1600

    /// Lambda's longest invocation timeout: how long the end waits, at most, for the invocations
    /// other workers are still answering.
    static let longestInvocationMilliseconds: Int64 = 900_000

    /// Runs until the Runtime API goes away; returns the process exit status, for `_exit` (not
    /// `exit`: other workers' threads may still be inside libcurl, held on `/next`, and atexit
    /// handlers running under them gain nothing).
    ///
    /// `initialize` runs once, before the first `/next`, and returns what makes one handler per
    /// worker; an error from either is posted to `/runtime/init/error`, once, and ends the
    /// process, as Lambda expects of a failed init. So does a concurrency the open-file limit
    /// cannot hold (`DescriptorLimit`).
    ///
    /// One worker (no `AWS_LAMBDA_MAX_CONCURRENCY`, or 1) runs on the calling thread. N workers
    /// run on N threads, each with its own Runtime API connection and its own handler (so its own
    /// SageMaker connection): nothing of an invocation is shared. A failed `/next` is retried
    /// (`NextRetryPolicy`); an invocation with unusable headers is answered with an error. The
    /// process ends, with one FATAL line, when a worker cannot go on: the Runtime API unusable for
    /// the retry window, a post answered with a 5xx (which the contract calls non-recoverable), or
    /// a post that could not be delivered. It never goes on with fewer workers, and takes no new
    /// invocation once one has stopped, but the invocations other workers are handling then are
    /// answered first (until the latest of their deadlines).
    public static func run<Handler: LambdaHandler>(
        environment: [String: String],
        logger: Logger,
        initialize: () throws(FunctionError) -> (() throws(FunctionError) -> Handler)
    ) -> Int32 {
        run(environment: environment, logger: logger, retry: .standard, initialize: initialize)
    }

    static func run<Handler: LambdaHandler>(
        environment: [String: String],
        logger: Logger,
        retry: NextRetryPolicy,
        initialize: () throws(FunctionError) -> (() throws(FunctionError) -> Handler)
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

        var workers: [Worker<Handler>] = []
        do throws(FunctionError) {
            let concurrency = try Self.concurrency(environment["AWS_LAMBDA_MAX_CONCURRENCY"])
            try DescriptorLimit.raise(toFit: concurrency)
            let makeHandler = try initialize()
            workers.append(Worker(number: 1, runtime: runtime, handler: try makeHandler(), retry: retry))
            for number in stride(from: 2, through: concurrency, by: 1) {
                let connection: RuntimeClient
                do {
                    connection = try RuntimeClient(endpoint: endpoint)
                } catch {
                    throw FunctionError(.runtime, type: "InitializationFailed", message: "could not set up the Runtime API client: \(error)")
                }
                workers.append(Worker(number: number, runtime: connection, handler: try makeHandler(), retry: retry))
            }
        } catch {
            logger.log(.fatal, "initialisation failed: \(error.message)", ["errorType": .string(error.type)])
            do {
                try runtime.reportInitError(error)
            } catch {
                logger.log(.fatal, "could not report the init error: \(error)")
            }
            return 1
        }

        let end = workers.count == 1
            ? workers[0].serve(shutdown: shutdown, logger: logger)
            : runConcurrently(workers, shutdown: shutdown, logger: logger)
        if !shutdown.waitUntilIdle(until: WallClock.nowMilliseconds() + longestInvocationMilliseconds) {
            logger.log(.error, "invocations still in flight at their deadline are lost with the process")
        }
        logger.log(.fatal, "stopping: \(end.reason)", requestID: end.requestID)
        return 1
    }

    /// `AWS_LAMBDA_MAX_CONCURRENCY`: unset or empty is one worker.
    static func concurrency(_ text: String?) throws(FunctionError) -> Int {
        guard let text, !text.isEmpty else { return 1 }
        guard let value = Int(text), (1...maximumConcurrency).contains(value) else {
            throw FunctionError(
                .runtime, type: "InvalidConfiguration",
                message: "AWS_LAMBDA_MAX_CONCURRENCY is \"\(text.prefix(40))\"; it must be a whole number from 1 to \(maximumConcurrency)")
        }
        return value
    }

    /// Starts every worker on a thread of its own and waits until one stops.
    /// Not generic: a thread's closure formed in a generic context would capture the handler's
    /// metatype, which is not `Sendable`; a worker seen as `ServingWorker` carries none.
    private static func runConcurrently(
        _ workers: [any ServingWorker], shutdown: ShutdownGuard, logger: Logger
    ) -> WorkerEnd {
        let board = WorkerBoard()
        for worker in workers {
            let started = WorkerThread.start {
                board.report(worker.serve(shutdown: shutdown, logger: logger, board: board))
            }
            if !started {
                board.report(WorkerEnd(reason: "could not start a thread for worker \(worker.number) of \(workers.count)"))
            }
        }
        return board.waitForTheEnd()
    }

    /// Posts the answer. A response over Lambda's limit is never sent: an error saying so goes
    /// instead, so the caller learns why and the process keeps serving. A refusal (4xx) ends
    /// only the invocation; a 5xx or a lost connection ends the process, as the Runtime API
    /// contract asks ("non-recoverable state, exit promptly").
    static func deliver(
        _ answer: Result<[UInt8], FunctionError>, for requestID: String, to runtime: RuntimeClient, logger: Logger
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
