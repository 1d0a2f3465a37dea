# Everything a user or CI runs. `make run` and `make test` work on a fresh Debian 12 machine
# with Swift: both install what they need first (tools/install-deps.sh). Building alone installs
# only the libraries the binary links; running and testing add the Python tooling and the RIE.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT_BUILD_FLAGS := -c release --static-swift-stdlib
BOOTSTRAP := .build/release/bootstrap
EVENT ?= events/console-test.json

.PHONY: help deps build-deps build package run invoke serve test unit-test e2e-test sanitize fuzz fuzz-smoke \
	deploy delete iam-documents invoke-remote logs alarms rehearse-deploy scan-template audit soak soak-smoke \
	test-arm64 unit-test-arm64 \
	bench bench-smoke clean

help:
	@echo "make run                      build, start the local stand-ins, invoke a sample event, print the summary"
	@echo "make invoke EVENT=events/x.json   the same with another event"
	@echo "make serve [FORMAT=v1|v2] [PORT=3000]  a local API Gateway on 127.0.0.1 in front of the function"
	@echo "make test                     unit tests, SigV4 cross-check, end-to-end tests through the RIE, template scans, deploy rehearsals"
	@echo "make sanitize                 unit tests under AddressSanitizer/LeakSanitizer and ThreadSanitizer"
	@echo "make fuzz [FUZZ_SECONDS=300]  libFuzzer targets, each for FUZZ_SECONDS"
	@echo "make bench                    Swift vs the Python handler vs a C floor under the RIE; rewrites bench/RESULTS.md and bench/results.svg"
	@echo "make soak                     100,000 mixed invocations through the RIE: same process, RSS growth < 1 MB, fds unchanged (~6 min)"
	@echo "make soak CONCURRENCY=64      100,000 invocations 64 at a time, Runtime API faults mixed in: every worker still polling, RSS/fds/threads flat"
	@echo "make package                  dist/summarizer-lambda.zip, self-contained for provided.al2023 and provided.al2"
	@echo "make package ARCH=arm64       dist/summarizer-lambda-arm64.zip for Graviton (Debian 13's Swift 6.0.3, in a trixie root)"
	@echo "make test-arm64               that package under qemu: the end-to-end suite and the chroot proof"
	@echo "make unit-test-arm64          the Swift unit tests built by Swift 6.0.3 for aarch64, under qemu (~8 min)"
	@echo "make deploy ENDPOINT_NAME=x [PARAMS='AuthMode=iam ...'] [ZIP=path]  package (or take ZIP as it is), create/update the stack; prints the URL"
	@echo "make delete                   delete the stack after asking; says which log groups go and which stay"
	@echo "make iam-documents ACCOUNT_ID=... AWS_REGION=... ENDPOINT_NAME=... [IAM_OPTIONS='--create-endpoint ...']  the deployer's policies and boundary"
	@echo "make invoke-remote            POST events/article.txt to the deployed API (with its key, or signed)"
	@echo "make logs                     follow the deployed function's log group"
	@echo "make alarms                   each alarm of the deployed stack: state, name, reason"
	@echo "make rehearse-deploy          make deploy against a local moto server (no AWS account needed)"
	@echo "make scan-template            cfn-lint, checkov per parameter set, cloudsplaining and parliament on the IAM documents"
	@echo "make audit                    fail (\"rebuild and redeploy\") when a library bundled in the zip is behind Debian's newest"

deps:
	@tools/install-deps.sh test

build-deps:
	@tools/install-deps.sh build

build: build-deps
	swift build $(SWIFT_BUILD_FLAGS) --product bootstrap

# x86_64 or arm64 (Lambda's names). arm64 cross-compiles in the root tools/arm64-root.sh makes
# and caches (~6 GB, a few minutes the first time).
ARCH ?= x86_64
ZIP_x86_64 := dist/summarizer-lambda.zip
ZIP_arm64 := dist/summarizer-lambda-arm64.zip

package: deps
	ARCH=$(ARCH) tools/package.sh

CONCURRENCY ?= 1
run: build deps
	python3 tools/run_local.py --bootstrap $(BOOTSTRAP) --event $(EVENT) --concurrency $(CONCURRENCY)

# `make run` under another name, for `make invoke EVENT=events/x.json`.
invoke: run

FORMAT ?= v1
PORT ?= 3000
serve: build deps
	python3 tools/serve_local.py --bootstrap $(BOOTSTRAP) --format $(FORMAT) --port $(PORT)

test: deps unit-test package e2e-test

unit-test:
	python3 tools/gen_sigv4_vectors.py .build/botocore-vectors.json
	SIGV4_VECTORS=$(CURDIR)/.build/botocore-vectors.json swift test

e2e-test:
	BOOTSTRAP=$(CURDIR)/$(BOOTSTRAP) python3 -m pytest -q -p no:cacheprovider tools/tests tests/e2e tests/package tests/deploy

# The unit tests for aarch64, built by Swift 6.0.3 and run under qemu inside the trixie root
# (with-arm64-binfmt): release with testing enabled, as a debug build is too slow under emulation
# for the tests' own time limits. Skipped: one check against Foundation's base64 decoder, whose
# 6.0.3 release decodes an input newer ones refuse (the product does not use Foundation), and the
# stalled TLS handshake's 2 s bound, which emulation overruns as in test-arm64.
unit-test-arm64: deps
	python3 tools/gen_sigv4_vectors.py .build/botocore-vectors.json
	tools/arm64-root.sh >/dev/null
	tools/arm64-root.sh swift-build -c release --build-tests -Xswiftc -enable-testing --scratch-path .build-arm64-tests
	tests/package/with-arm64-binfmt tools/arm64-root.sh run env SIGV4_VECTORS=/src/.build/botocore-vectors.json \
		LD_LIBRARY_PATH=/opt/swift-aarch64/usr/libexec/swift/lib/swift/linux \
		.build-arm64-tests/aarch64-unknown-linux-gnu/release/SageMakerSummarizerPackageTests.xctest \
		--testing-library swift-testing --skip 'refusesWhatFoundationRefuses|aStalledTLSHandshakeIsAConnectTimeout'

# AddressSanitizer (with LeakSanitizer) and ThreadSanitizer over the unit tests. XCTest's own
# runner leaks a few objects at exit; .ci/lsan.supp suppresses exactly that library.
sanitize: build-deps
	LSAN_OPTIONS=suppressions=$(CURDIR)/.ci/lsan.supp swift test --sanitize=address --scratch-path .build-asan
	swift test --sanitize=thread --scratch-path .build-tsan

FUZZ_SECONDS ?= 300
fuzz: build-deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) tools/fuzz.sh

fuzz-smoke:
	FUZZ_SECONDS=30 tools/fuzz.sh

# Both packages: the arm64 one's figures are emulated (qemu), reported apart.
bench: package
	$(MAKE) package ARCH=arm64
	bench/setup.sh
	python3 bench/run.py

# Tiny counts, for CI: keeps the benchmark from rotting; writes under .build-bench/quick/.
bench-smoke: package
	$(MAKE) package ARCH=arm64
	bench/setup.sh
	python3 bench/run.py --quick

# CONCURRENCY=N (above 1): N at a time under the concurrent Runtime API stand-in, with its faults.
soak: build deps
	python3 tools/soak.py --bootstrap $(BOOTSTRAP) --concurrency $(CONCURRENCY) \
		--json .build/soak$(if $(filter-out 1,$(CONCURRENCY)),-c$(CONCURRENCY)).json

# One worker under the RIE, then eight at once with Runtime API faults (about 10 s).
soak-smoke: build deps
	python3 tools/soak.py --quick --bootstrap $(BOOTSTRAP)
	python3 tools/soak.py --quick --concurrency 8 --bootstrap $(BOOTSTRAP)

# STACK, ENDPOINT_NAME, BUCKET, PERMISSIONS_BOUNDARY and AWS_REGION come from the environment (see
# tools/deploy.sh); PARAMS="AuthMode=iam MaxNumBeams=4" are template parameters. ZIP=path deploys
# that package without building anything; without it the x86_64 package is built first, and the
# arm64 one (Architecture=arm64) must have been built by `make package ARCH=arm64`.
PARAMS ?=
ZIP ?=
deploy:
	@if [ -z "$(ZIP)" ] && [[ " $(PARAMS) " != *" Architecture=arm64 "* ]]; then $(MAKE) --no-print-directory package; fi
	ZIP="$(ZIP)" tools/deploy.sh deploy $(PARAMS)

# Asks first (CONFIRM=<stack> does not); says which log groups go with the stack and which stay.
delete:
	tools/deploy.sh delete

# The deployer's policies and the boundary filled in for one account and deployment, into dist/iam/.
iam-documents:
	python3 tools/iam-policies.py render $(ACCOUNT_ID) $(AWS_REGION) $(ENDPOINT_NAME) $(IAM_OPTIONS)

invoke-remote:
	tools/deploy.sh invoke-remote

logs:
	tools/deploy.sh logs

alarms:
	tools/deploy.sh alarms

rehearse-deploy:
	@if [ -z "$(ZIP)" ]; then $(MAKE) --no-print-directory package; fi
	ZIP="$(ZIP)" tools/deploy.sh rehearse $(PARAMS)

# tests/deploy runs both too (make test); this is the quick way while editing template.json.
scan-template: deps
	cfn-lint template.json
	python3 tools/scan-template.py
	python3 tools/iam-policies.py scan

# The zip carries its own glibc, OpenSSL and libcurl: Lambda's OS patching never reaches them.
audit:
	tools/audit.sh $(ZIP_$(ARCH))

# The arm64 package as the function, every aarch64 executable under qemu-aarch64-static
# (tests/package/arm64-bootstrap): the e2e suite, the chroot proof and build-curl's arm64 source
# (the x86_64 cases there run again, quickly). Left out: two time limits
# the emulator cannot meet, and the DNS stall test's chroot variant (its chroot runs without
# qemu; its other variant runs this package).
ARM64_DESELECT := \
	tests/e2e/test_faults.py::test_one_kept_alive_connection_serves_a_hundred_invocations \
	tests/e2e/test_faults.py::test_unreachable_endpoint_is_502_after_three_attempts[never-accepts] \
	tests/e2e/test_dns_stall.py::test_packaged_binary_answers_fast_and_survives
test-arm64: deps
	$(MAKE) package ARCH=arm64
	ARCH=arm64 BOOTSTRAP=$(CURDIR)/tests/package/arm64-bootstrap python3 -m pytest -q -p no:cacheprovider \
		tests/e2e tests/package/test_chroot.py tests/package/test_build_curl.py $(addprefix --deselect ,$(ARM64_DESELECT))

clean:
	rm -rf .build .build-* .tools dist
