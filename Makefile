# Perigee: the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 9000
RELEASE_BIN := .build/release/perigee
# External suites run against the debug binary that `swift test` has just built: the
# clients (Python) are the bottleneck, and skipping a second, optimised build saves minutes.
TEST_BIN := .build/debug/perigee

# Each libFuzzer target (Fuzz/Sources) runs this long in `make test`.
FUZZ_SECONDS ?= 20
FUZZ_TARGETS := FuzzWebSocket FuzzHandshake FuzzStomp FuzzDestination FuzzSockJS FuzzAccess

.PHONY: bench bench-smoke bench-build run test deps release unit-test fuzz external-test autobahn ws-cli stomp-py auth metrics tls browser sockjs-client django-example clean

## run: install what is missing, build the release binary, serve on $(HOST):$(PORT)
run: deps release
	$(RELEASE_BIN) --host $(HOST) --port $(PORT) $(if $(CONFIG),--config $(CONFIG))

## test: install what is missing, then every test: Swift tests, a short run of each fuzz
## target, a 10-second perigee-bench fan-out against the release build (any lost or reordered
## message fails), stomp.py, JWT/hooks/sender identity on every transport (auth), /metrics
## counters after a scripted session (metrics), TLS and
## origins (tls), the shoutbox in headless Chromium on every transport, Debian's sockjs-client
## in Chromium, the Django example beside Perigee (examples/django-shoutbox), a wscat-style CLI
## session, and Autobahn|Testsuite (the longest, last)
test: deps unit-test fuzz bench-smoke external-test

deps:
	@scripts/install-deps.sh

release:
	swift build -c release --product perigee

unit-test:
	swift build --build-tests
	swift test

## fuzz: build the libFuzzer targets (Fuzz/, their own package) and run each for
## $(FUZZ_SECONDS) s from its seed corpus; any crash, timeout or leak fails
fuzz:
	@failed=""; \
	for target in $(FUZZ_TARGETS); do Fuzz/run.sh $$target $(FUZZ_SECONDS) || failed="$$failed $$target"; done; \
	if [ -n "$$failed" ]; then echo "fuzz targets that failed:$$failed" >&2; exit 1; fi

external-test: stomp-py auth metrics tls browser sockjs-client django-example ws-cli autobahn

autobahn:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/autobahn.sh

ws-cli:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/ws_cli_test.sh

stomp-py:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/stomp_py_test.sh

## auth: JWT, authorization hooks and sender identity on every transport (issue 9)
auth:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/auth_test.sh

## metrics: GET /metrics parsed with prometheus_client after a scripted session; every counter
## must have moved by what the script did (issue 10)
metrics:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/metrics_test.sh

## tls: HTTPS, WSS and STOMP over TLS with requests, websockets and stomp.py; certificate
## reload on SIGHUP; the origin allow-list (certificates made with the openssl command)
tls:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/tls_test.sh

browser:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/browser_test.sh

sockjs-client:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/sockjs_client_test.sh

## django-example: examples/django-shoutbox beside Perigee (its Django tests, then Chromium)
django-example:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/django_example_test.sh

clean:
	rm -rf .build Fuzz/.build Tests/External/out

## bench: install and start the peers (nginx + nchan, RabbitMQ) on 127.0.0.1, run every
## scenario on Perigee and each peer, stop the peers, write BENCHMARKS.md and bench/plots/.
## QUICK=1: fewer sizes, one run each, short steps (under 5 minutes); REPEATS=N runs each
## variant N times (medians and spread). Not part of `make test`.
BENCH_BIN := .build/release/perigee-bench
BENCH_VENV := .venv-bench

bench: deps bench-build $(BENCH_VENV)/.ok
	ulimit -n 20000 && bench/peers.sh run bench/run.py --perigee $(RELEASE_BIN) --bench $(BENCH_BIN) $(if $(QUICK),--quick) $(if $(REPEATS),--repeats $(REPEATS))
	$(BENCH_VENV)/bin/python bench/report.py

## bench-smoke: a 10-second perigee-bench run against the release binary, failing on any loss
bench-smoke: bench-build
	PERIGEE_BIN=$(RELEASE_BIN) BENCH_BIN=$(BENCH_BIN) bench/smoke.sh

# swift build takes one --product at a time.
bench-build:
	swift build -c release --product perigee
	swift build -c release --product perigee-bench

$(BENCH_VENV)/.ok:
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q matplotlib
	touch $@
