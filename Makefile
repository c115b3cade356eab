# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/tutti-target
# Where `make run` keeps the room server's data.
DATA ?= $(HOME)/.local/share/tutti-server
LISTEN ?= 127.0.0.1:8787

.PHONY: run test setup lint test-rust bench bench-load bench-latency bench-jitter bench-video server

setup:
	@scripts/setup-debian.sh

## Starts the room server (the desktop app takes this over once it exists).
run: server

server: setup
	cargo run --release -p signaling-server --bin tutti-server -- --listen $(LISTEN) --data $(DATA)

## Everything CI checks.
test: setup lint test-rust

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

## The binaries first: tests/tests/nat.rs runs tutti-server and tutti-peer themselves, and
## `cargo test` alone does not rebuild another package's binaries.
test-rust:
	cargo build --workspace --bins --locked
	cargo test --workspace --locked

## Benchmarks (release builds; figures go in the README).
bench: bench-load bench-latency bench-jitter bench-video

bench-load: setup
	cargo bench -p signaling-server --bench load -- --clients 1000
	cargo bench -p signaling-server --bench load -- --clients 10000

## Capture-to-playout latency between two tutti-peer processes through a room server, clean and
## impaired (the JSON lines are the figures for the README).
bench-latency: setup
	cargo build --release -p signaling-server -p tutti-lesson
	for f in 2.5 5 10; do $(CARGO_TARGET_DIR)/release/tutti-peer bench latency --frame-ms $$f --seconds 20; done
	$(CARGO_TARGET_DIR)/release/tutti-peer bench latency --frame-ms 2.5 --seconds 20 --impair loss=3,delay=20,jitter=10
	$(CARGO_TARGET_DIR)/release/tutti-peer bench latency --frame-ms 2.5 --seconds 20 --relay

## The jitter buffer alone, against generated arrival traces (repeatable, seeded).
bench-jitter: setup
	cargo bench -p tutti-media --bench jitter_trace -- --minutes 2

## VP8 alone (the test pattern at 640x480, 30 fps, one thread), then video between two
## tutti-peer processes through a room server.
bench-video: setup
	cargo bench -p tutti-media --bench video_codec
	cargo build --release -p signaling-server -p tutti-lesson
	$(CARGO_TARGET_DIR)/release/tutti-peer bench video --seconds 20
