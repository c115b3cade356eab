# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/tutti-target
# Where `make server` keeps the room server's data.
DATA ?= $(HOME)/.local/share/tutti-server
LISTEN ?= 127.0.0.1:8787
# The app is always built with its UI inside (as `tauri build` does), so that the tests, the
# binary under test and `make run` share one build of Tauri.
APP_FEATURES := --features tutti-app/custom-protocol
TAURI := ui/node_modules/.bin/tauri
APP := $(CARGO_TARGET_DIR)/debug/tutti

.PHONY: run test setup ui-deps ui-dist lint test-rust test-ui test-app app bundle bindings server \
	bench bench-load bench-latency bench-jitter bench-video bench-app bench-devices bench-recovery \
	bench-ensemble bench-soak fuzz \
	bench-together \
	app-peers

setup:
	@scripts/setup-debian.sh

ui-deps: setup
	@[ ui/node_modules/.package-lock.json -nt ui/package-lock.json ] || (cd ui && npm ci --no-audit --no-fund)

## The built UI, which the app's Rust embeds at compile time.
ui-dist: ui-deps
	cd ui && npx vite build --logLevel warn

## The desktop app, with the UI built into it.
app: ui-deps
	$(TAURI) build --debug --no-bundle

run: app
	$(APP)

## A room server on its own (for lessons across networks; the app runs one itself otherwise).
server: setup
	cargo run --release -p signaling-server --bin tutti-server -- --listen $(LISTEN) --data $(DATA)

## The Debian package (size in the README), without the line tables the benchmarks' release
## builds keep for profiling.
bundle: ui-deps
	CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols $(TAURI) build --bundles deb

## Rewrites ui/src/bindings.ts from the Rust commands and events (CI checks it is current).
bindings:
	TUTTI_UPDATE_BINDINGS=1 cargo test -p tutti-app $(APP_FEATURES) --lib bindings_are_up_to_date

## Everything CI checks.
test: setup ui-deps lint test-rust test-ui test-app

lint: ui-dist
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked $(APP_FEATURES) -- -D warnings
	cd ui && npx tsc --noEmit

## The binaries first: tests/tests/nat.rs runs tutti-server and tutti-peer themselves, and
## `cargo test` alone does not rebuild another package's binaries.
test-rust: ui-dist
	cargo build --workspace --bins --locked $(APP_FEATURES)
	cargo test --workspace --locked --no-fail-fast $(APP_FEATURES)

test-ui: ui-deps
	cd ui && npx vitest run

## The real app under a virtual display, driven through WebDriver, with a tutti-peer student.
test-app: app-peers
	xvfb-run -a -s "-screen 0 1440x900x24" node --test tests/app/

## What driving the real app needs besides the app: tauri-driver and the headless students
## (built as test-rust builds them, so that the two share one build of every dependency).
app-peers: app
	@command -v tauri-driver >/dev/null || cargo install tauri-driver --version "^2" --locked
	cargo build --workspace --bins --locked $(APP_FEATURES)

## Benchmarks (release builds; figures go in the README).

## Mouth to ear through a userspace PulseAudio the benchmark starts (virtual microphones and
## speakers, the sound server recording what went in and came out), both ways; then with both
## cores busy, with the microphone fed in 500 ms blocks, and beside a Chromium call.
bench-devices: setup ui-deps
	@scripts/setup-debian.sh --bench
	cargo build --release -p signaling-server -p tutti-peer
	$(CARGO_TARGET_DIR)/release/tutti-peer bench devices --seconds 20 --chromium
	$(CARGO_TARGET_DIR)/release/tutti-peer bench devices --seconds 20 --hog
	$(CARGO_TARGET_DIR)/release/tutti-peer bench devices --seconds 20 --mic-blocks-ms 500
	$(CARGO_TARGET_DIR)/release/tutti-peer bench devices --seconds 20 --audio-host cpal
	dbus-run-session -- $(CARGO_TARGET_DIR)/release/tutti-peer bench devices --seconds 20 --sound-server pipewire
	$(CARGO_TARGET_DIR)/release/tutti-peer bench devices --seconds 20 --sound-server jack --jack-period 64
	$(CARGO_TARGET_DIR)/release/tutti-peer bench devices --seconds 20 --sound-server jack --jack-period 128
bench: bench-load bench-latency bench-jitter bench-video bench-app bench-devices bench-recovery \
	bench-together bench-ensemble

## An ensemble of 2 to 6 players in a full mesh, each its own process on loopback: every pair's
## delay and each process's CPU against the number of players.
bench-ensemble: setup
	cargo build --release -p signaling-server -p tutti-peer
	$(CARGO_TARGET_DIR)/release/tutti-peer bench ensemble --peers 6 --frame-ms 5 --seconds 15

## An hour-long lesson (host, two students, sound and video both ways, a question and a chat
## every 5 s, a cut every 10 min) sampled every 30 s, in network namespaces (needs root); then
## 1,000 lessons opened and ended in a row against one server and one engine. Not in CI.
bench-soak: setup
	cargo build --release -p signaling-server -p tutti-peer
	cargo bench -p tutti-e2e --bench soak -- --minutes 60
	RUST_LOG=warn $(CARGO_TARGET_DIR)/release/tutti-peer bench lessons --count 1000

## Fuzzing (not in CI): each target in fuzz/ for FUZZ_SECONDS (default 600), two at a time;
## libFuzzer on the stable compiler; corpus kept in fuzz/corpus. See fuzz/README.md.
fuzz: setup
	scripts/fuzz.sh

## Playing together: the host's metronome as both speakers play it (one PulseAudio sink, the
## student 70 ± 10 ms away), the shared clock's error, an hour of drifting cards simulated; then
## with both cores busy.
bench-together: setup
	@scripts/setup-debian.sh --bench
	cargo build --release -p signaling-server -p tutti-peer
	$(CARGO_TARGET_DIR)/release/tutti-peer bench together --delay-ms 70 --jitter-ms 10 --seconds 20
	$(CARGO_TARGET_DIR)/release/tutti-peer bench together --delay-ms 70 --jitter-ms 10 --seconds 20 --hog

bench-load: setup
	cargo bench -p signaling-server --bench load -- --clients 1000
	cargo bench -p signaling-server --bench load -- --clients 10000

## Capture-to-playout latency between two tutti-peer processes through a room server, clean and
## impaired (the JSON lines are the figures for the README).
bench-latency: setup
	cargo build --release -p signaling-server -p tutti-peer
	for f in 2.5 5 10; do $(CARGO_TARGET_DIR)/release/tutti-peer bench latency --frame-ms $$f --seconds 20; done
	$(CARGO_TARGET_DIR)/release/tutti-peer bench latency --frame-ms 2.5 --seconds 20 --impair loss=3,delay=20,jitter=10
	$(CARGO_TARGET_DIR)/release/tutti-peer bench latency --frame-ms 2.5 --seconds 20 --relay

## A lesson's sound after 10 cuts of all traffic (5 s each) and a room-server restart, with the
## real binaries in network namespaces (needs root); the benchmark finds them next to itself.
bench-recovery: setup
	cargo build --release -p signaling-server -p tutti-peer
	cargo bench -p tutti-e2e --bench recovery -- --cuts 10 --cut-s 5

## The jitter buffer alone, against generated arrival traces (repeatable, seeded).
bench-jitter: setup
	cargo bench -p tutti-media --bench jitter_trace -- --minutes 2

## VP8 alone (the test pattern at 640x480, 30 fps, one thread), then video between two
## tutti-peer processes through a room server.
bench-video: setup
	cargo bench -p tutti-media --bench video_codec
	cargo build --release -p signaling-server -p tutti-peer
	$(CARGO_TARGET_DIR)/release/tutti-peer bench video --seconds 20
	cargo bench -p tutti-media --bench frames_to_webview

## The real app under a virtual display with a userspace PulseAudio: CPU of all its processes,
## pictures shown, the page's answers; one student at 640x480, then six at 320x240.
bench-app: setup app-peers
	xvfb-run -a -s "-screen 0 1440x900x24" node tests/app/bench-app.mjs --students 1
	xvfb-run -a -s "-screen 0 1440x900x24" node tests/app/bench-app.mjs --students 6
