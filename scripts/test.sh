#!/usr/bin/env bash
# Every test of the project, in the order a reviewer would run them:
# formatting, lints, the Rust workspace (unit + integration, real server on port 0),
# then the browser tests of the web page (headless Chromium) when they are present.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

if [[ -f tests/e2e/package.json ]]; then
  step "browser tests (headless Chromium)"
  cargo build --locked -p chat-server
  (cd tests/e2e && { [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error; } && npm test)
fi
step "all tests passed"
