# Perigee: the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 9000
RELEASE_BIN := .build/release/perigee
# External suites run against the debug binary that `swift test` has just built: the
# clients (Python) are the bottleneck, and skipping a second, optimised build saves minutes.
TEST_BIN := .build/debug/perigee

.PHONY: run test deps release unit-test external-test autobahn ws-cli clean

## run: install what is missing, build the release binary, serve on $(HOST):$(PORT)
run: deps release
	$(RELEASE_BIN) --host $(HOST) --port $(PORT) $(if $(CONFIG),--config $(CONFIG))

## test: install what is missing, then every test: Swift tests, Autobahn|Testsuite, wscat-style CLI session
test: deps unit-test external-test

deps:
	@scripts/install-deps.sh

release:
	swift build -c release --product perigee

unit-test:
	swift build --build-tests
	swift test

external-test: autobahn ws-cli

autobahn:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/autobahn.sh

ws-cli:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/ws_cli_test.sh

clean:
	rm -rf .build Tests/External/out
