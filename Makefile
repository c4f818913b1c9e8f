# Perigee: the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
HOST ?= 127.0.0.1
PORT ?= 9000
# `make run` serves with the example configuration (the defaults, plus history and presence on
# the shoutbox's /topic/shouts); CONFIG=other.yaml picks another file, CONFIG= none.
CONFIG ?= perigee.example.yaml
RELEASE_BIN := .build/release/perigee
# External suites run against the debug binary that `swift test` has just built: the
# clients (Python) are the bottleneck, and skipping a second, optimised build saves minutes.
TEST_BIN := .build/debug/perigee

# Each libFuzzer target (Fuzz/Sources) runs this long in `make test`.
FUZZ_SECONDS ?= 20
FUZZ_TARGETS := FuzzWebSocket FuzzHandshake FuzzStomp FuzzDestination FuzzSockJS FuzzAccess

.PHONY: bench bench-smoke bench-build run test deps release unit-test fuzz external-test autobahn ws-cli stomp-py auth admin metrics logs drain tls reload history browser status-page sockjs-client django-example deploy clean

## run: install what is missing, build the release binary, serve on $(HOST):$(PORT)
run: deps release
	$(RELEASE_BIN) --host $(HOST) --port $(PORT) $(if $(CONFIG),--config $(CONFIG))

## test: install what is missing, then every test: Swift tests, a short run of each fuzz
## target, a 10-second perigee-bench fan-out against the release build (any lost or reordered
## message fails), stomp.py, JWT/hooks/sender identity on every transport (auth), the admin
## API on every transport (admin), /metrics counters after a scripted session (metrics), logs free of secrets (logs), the graceful drain on SIGTERM
## with clients on every transport (drain), TLS and origins (tls), configuration reload on
## SIGHUP (reload), resume, history and presence across transports (history), the shoutbox in
## headless Chromium on every transport, the status page in Chromium (status-page), Debian's sockjs-client in Chromium, the Django example beside
## Perigee (examples/django-shoutbox), the nginx front end and systemd unit (deploy), a wscat-style CLI
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

external-test: stomp-py auth admin metrics logs drain tls reload history browser status-page sockjs-client django-example deploy ws-cli autobahn

autobahn:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/autobahn.sh

## deploy: the README's nginx front end (deploy/nginx/perigee.conf, real nginx) and systemd unit
## (systemd-analyze verify)
deploy:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/deploy_test.sh

ws-cli:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/ws_cli_test.sh

stomp-py:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/stomp_py_test.sh

## auth: JWT, authorization hooks and sender identity on every transport (issue 9)
auth:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/auth_test.sh

## logs: --log-format json|text and --log-level; a scripted session with API keys, passcodes,
## JWTs, cookies and a malformed request; no secret in the output, one event per line (issue 10)
logs:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/log_secrets_test.sh

## admin: the admin API (API key roles; list, disconnect a session or every session of a user
## on all eight transports, unsubscribe, destinations) and the $sys statistics topic (issue 10)
admin:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/admin_test.sh

## drain: SIGTERM mid-stream drains the real binary: subscribers on all eight transports get
## every publish answered (202, RECEIPT) before the signal, then their goodbye; exit status 0 in
## time (issue 10)
drain:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/drain_test.sh

## metrics: GET /metrics parsed with prometheus_client after a scripted session; every counter
## must have moved by what the script did (issue 10)
metrics:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/metrics_test.sh

## tls: HTTPS, WSS and STOMP over TLS with requests, websockets and stomp.py; certificate
## reload on SIGHUP; the origin allow-list (certificates made with the openssl command)
tls:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/tls_test.sh

## reload: SIGHUP swaps API keys and access rules while stomp.py and websockets connections
## stay open; an invalid file is refused with the error --check-config prints for it
reload:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/reload_test.sh

## history: positions, resume with perigee-since across a dropped connection (WebSocket, TCP,
## SockJS) while publishing goes on, recovered:false cases, perigee-history, offsets under
## concurrent publishers, presence join/leave and the history and presence APIs (issue 11)
history:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/history_test.sh

## browser: the perigee.js node tests, the shoutbox in Chromium on every transport, then
## history, resume after a restart or a fallback, and who is here (issue 11)
browser:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/browser_test.sh

## status-page: web/status.html in headless Chromium, live numbers from /topic/$sys.stats;
## screenshot at Tests/External/out/status.png
status-page:
	PERIGEE_BIN=$(TEST_BIN) Tests/External/status_page_test.sh

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
