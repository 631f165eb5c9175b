#!/usr/bin/env bash
# Installs the Debian packages Longtail needs when they are missing (idempotent, no-op when present):
# the venv module for the interpreter, libusb and libgomp for Open3D, Chromium for the browser
# tests (Playwright drives /usr/bin/chromium; it downloads no browser of its own), strace for the
# crash-consistency tests that record SQLite's system calls (tests/fixtures/crash/syscalls.py),
# Node.js and npm for building the labelling tool (annotator/ needs Node >= 20.19: Debian 13's
# nodejs, or NodeSource's on Debian 12).
set -euo pipefail
PY="${1:-python3.11}"
need=()
dpkg -s libusb-1.0-0 >/dev/null 2>&1 || need+=(libusb-1.0-0)
dpkg -s libgomp1 >/dev/null 2>&1 || need+=(libgomp1)
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
dpkg -s strace >/dev/null 2>&1 || need+=(strace)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then
    need+=("$(basename "$PY")-venv")
fi
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing Debian packages: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
node_ok=$(node -e 'const [a, b] = process.versions.node.split(".").map(Number); console.log(a > 20 || (a === 20 && b >= 19) ? 1 : 0)')
if [ "$node_ok" != 1 ]; then
    echo "Node.js $(node --version) is too old for annotator/ (needs >= 20.19)" >&2
    exit 1
fi
