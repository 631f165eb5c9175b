#!/usr/bin/env bash
# Installs the Debian packages Longtail needs when they are missing (idempotent, no-op when present):
# the venv module for the interpreter, libusb and libgomp for Open3D, Chromium for the browser
# tests (Playwright drives /usr/bin/chromium; it downloads no browser of its own), strace for the
# crash-consistency tests that record SQLite's system calls (tests/fixtures/crash/syscalls.py).
set -euo pipefail
PY="${1:-python3.11}"
need=()
dpkg -s libusb-1.0-0 >/dev/null 2>&1 || need+=(libusb-1.0-0)
dpkg -s libgomp1 >/dev/null 2>&1 || need+=(libgomp1)
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
dpkg -s strace >/dev/null 2>&1 || need+=(strace)
if ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then
    need+=("$(basename "$PY")-venv")
fi
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing Debian packages: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
