import Testing
@testable import Summarizer

@Suite struct ConfigurationTests {
    let base = [
        "ENDPOINT_NAME": "financial-summarizer",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-SECRET",
        "AWS_SESSION_TOKEN": "FwoGZXIvYXdzTOKEN",
    ]

    func load(_ overrides: [String: String?], files: Set<String> = ["/etc/pki/tls/certs/ca-bundle.crt"])
        throws(ConfigurationError) -> Configuration
    {
        var environment = base
        for (key, value) in overrides { environment[key] = value }
        return try Configuration.fromEnvironment(environment) { files.contains($0) }
    }

    func error(_ overrides: [String: String?], files: Set<String> = ["/etc/pki/tls/certs/ca-bundle.crt"]) -> ConfigurationError? {
        do {
            _ = try load(overrides, files: files)
            return nil
        } catch {
            return error
        }
    }

    @Test func defaults() throws {
        let configuration = try load([:])
        #expect(configuration.endpointName == "financial-summarizer")
        #expect(configuration.region == "eu-west-1")
        #expect(configuration.credentials.sessionToken == "FwoGZXIvYXdzTOKEN")
        #expect(configuration.endpointURL == "https://runtime.sagemaker.eu-west-1.amazonaws.com")
        #expect(configuration.sageMakerTimeoutMilliseconds == 60_000)
        #expect(configuration.maxAttempts == 3)
        #expect(configuration.caBundlePath == "/etc/pki/tls/certs/ca-bundle.crt")
    }

    @Test func endpointURLOverridesFollowTheSDKs() throws {
        #expect(try load(["AWS_ENDPOINT_URL": "http://127.0.0.1:9000"]).endpointURL == "http://127.0.0.1:9000")
        #expect(try load(["AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://b:2"]).endpointURL == "http://b:2")
        #expect(error(["AWS_ENDPOINT_URL": "ftp://x"]) == .invalidEndpointURL("ftp://x"))
    }

    @Test func plainHTTPNeedsNoCABundle() throws {
        #expect(try load(["AWS_ENDPOINT_URL": "http://127.0.0.1:9000"], files: []).caBundlePath == nil)
    }

    @Test func caBundleSearchHonoursSSLCertFileThenAmazonLinuxThenDebian() throws {
        let all: Set = ["/custom.pem", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt"]
        #expect(try load(["SSL_CERT_FILE": "/custom.pem"], files: all).caBundlePath == "/custom.pem")
        #expect(try load([:], files: all).caBundlePath == "/etc/pki/tls/certs/ca-bundle.crt")
        #expect(try load([:], files: ["/etc/ssl/certs/ca-certificates.crt"]).caBundlePath == "/etc/ssl/certs/ca-certificates.crt")
        guard case .noCABundle(let searched)? = error([:], files: []) else {
            Issue.record("expected noCABundle")
            return
        }
        #expect(searched.contains("/etc/pki/tls/certs/ca-bundle.crt"))
    }

    @Test func regionFallsBackToDefaultRegion() throws {
        #expect(try load(["AWS_REGION": nil, "AWS_DEFAULT_REGION": "us-west-2"]).region == "us-west-2")
    }

    @Test func missingSettingsAreNamed() {
        #expect(error(["ENDPOINT_NAME": nil]) == .missingEndpointName)
        #expect(error(["ENDPOINT_NAME": ""]) == .missingEndpointName)
        #expect(error(["AWS_REGION": nil]) == .missingRegion)
        #expect(error(["AWS_ACCESS_KEY_ID": nil]) == .missingCredentials)
        // The RIE sets absent credentials to the empty string.
        #expect(error(["AWS_SECRET_ACCESS_KEY": ""]) == .missingCredentials)
        #expect(ConfigurationError.missingEndpointName.description.contains("ENDPOINT_NAME"))
    }

    @Test(arguments: ["bad_name", "-lead", "trail-", String(repeating: "a", count: 64), "has space", "a/b"])
    func invalidEndpointNamesAreRefused(name: String) {
        #expect(error(["ENDPOINT_NAME": name]) == .invalidEndpointName(name))
    }

    @Test func numbersAreChecked() throws {
        #expect(try load(["SAGEMAKER_TIMEOUT_MS": "1500"]).sageMakerTimeoutMilliseconds == 1500)
        #expect(error(["SAGEMAKER_TIMEOUT_MS": "soon"]) == .invalidNumber(name: "SAGEMAKER_TIMEOUT_MS", value: "soon", range: 1...900_000))
        #expect(error(["AWS_MAX_ATTEMPTS": "0"]) != nil)
    }

    @Test func descriptionNeverContainsTheSecret() {
        let credentials = try! load([:]).credentials
        #expect(!String(describing: credentials).contains("wJalrXUtnFEMI-SECRET"))
        #expect(!String(describing: credentials).contains("FwoGZXIvYXdzTOKEN"))
        #expect(!String(reflecting: credentials).contains("wJalrXUtnFEMI-SECRET"))
    }
}

@Suite struct RequestLimitsConfigurationTests {
    let base = ConfigurationTests().base

    func load(_ extra: [String: String]) throws(ConfigurationError) -> Configuration {
        try Configuration.fromEnvironment(base.merging(extra) { $1 }) { $0 == "/etc/pki/tls/certs/ca-bundle.crt" }
    }

    @Test func defaultsFitAPegasusSummariser() throws {
        #expect(try load([:]).limits == RequestLimits(returnSequences: 8, beams: 8, generationTokens: 1_024, batchArticles: 32))
    }

    @Test func limitsComeFromTheEnvironment() throws {
        let limits = try load(["MAX_RETURN_SEQUENCES": "2", "MAX_NUM_BEAMS": "4", "MAX_GENERATION_TOKENS": "256", "MAX_BATCH_ARTICLES": "5"]).limits
        #expect(limits == RequestLimits(returnSequences: 2, beams: 4, generationTokens: 256, batchArticles: 5))
    }

    @Test func aLimitOutOfRangeFailsTheInit() {
        #expect(throws: ConfigurationError.invalidNumber(name: "MAX_NUM_BEAMS", value: "0", range: 1...64)) { try load(["MAX_NUM_BEAMS": "0"]) }
        #expect(throws: ConfigurationError.invalidNumber(name: "MAX_BATCH_ARTICLES", value: "lots", range: 1...10_000)) { try load(["MAX_BATCH_ARTICLES": "lots"]) }
    }
}
