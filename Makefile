# Everything a user or CI runs. `make run` and `make test` work on a fresh Debian 12 machine
# with Swift: both install what they need first (tools/install-deps.sh). Building alone installs
# only the libraries the binary links; running and testing add the Python tooling and the RIE.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT_BUILD_FLAGS := -c release --static-swift-stdlib
BOOTSTRAP := .build/release/bootstrap
EVENT ?= events/console-test.json

.PHONY: help deps build-deps build package run invoke serve test unit-test e2e-test sanitize fuzz fuzz-smoke \
	deploy invoke-remote logs alarms rehearse-deploy scan-template audit soak soak-smoke \
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
	@echo "make package                  dist/summarizer-lambda.zip, self-contained for provided.al2023 and provided.al2"
	@echo "make deploy ENDPOINT_NAME=x [PARAMS='AuthMode=iam ...']  package, then create/update the stack; prints the URL"
	@echo "make invoke-remote            POST events/article.txt to the deployed API (with its key, or signed)"
	@echo "make logs                     follow the deployed function's log group"
	@echo "make alarms                   each alarm of the deployed stack: state, name, reason"
	@echo "make rehearse-deploy          make deploy against a local moto server (no AWS account needed)"
	@echo "make scan-template            cfn-lint and checkov on template.json and on one rendering per parameter set"
	@echo "make audit                    fail (\"rebuild and redeploy\") when a library bundled in the zip is behind Debian's newest"

deps:
	@tools/install-deps.sh test

build-deps:
	@tools/install-deps.sh build

build: build-deps
	swift build $(SWIFT_BUILD_FLAGS) --product bootstrap

package: deps
	tools/package.sh

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

bench: package
	bench/setup.sh
	python3 bench/run.py

# Tiny counts, for CI: keeps the benchmark from rotting; writes under .build-bench/quick/.
bench-smoke: package
	bench/setup.sh
	python3 bench/run.py --quick

soak: build deps
	python3 tools/soak.py --bootstrap $(BOOTSTRAP) --json .build/soak.json

soak-smoke: build deps
	python3 tools/soak.py --quick --bootstrap $(BOOTSTRAP)

# STACK, ENDPOINT_NAME, BUCKET, PERMISSIONS_BOUNDARY and AWS_REGION come from the environment (see
# tools/deploy.sh); PARAMS="AuthMode=iam MaxNumBeams=4" are template parameters.
PARAMS ?=
deploy: package
	tools/deploy.sh deploy $(PARAMS)

invoke-remote:
	tools/deploy.sh invoke-remote

logs:
	tools/deploy.sh logs

alarms:
	tools/deploy.sh alarms

rehearse-deploy: package
	tools/deploy.sh rehearse

# tests/deploy runs both too (make test); this is the quick way while editing template.json.
scan-template: deps
	cfn-lint template.json
	python3 tools/scan-template.py

# The zip carries its own glibc, OpenSSL and libcurl: Lambda's OS patching never reaches them.
audit:
	tools/audit.sh dist/summarizer-lambda.zip

clean:
	rm -rf .build .build-* .tools dist
