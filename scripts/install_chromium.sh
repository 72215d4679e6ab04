#!/usr/bin/env bash
# Install Debian's chromium for the dashboard's browser test (idempotent, quiet).
# The test drives it with Playwright through executable_path=/usr/bin/chromium,
# so no browser download from Playwright is needed.
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_chromium.sh: not root and no sudo; cannot install chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null

if [ ! -x "$CHROMIUM" ]; then
    echo "install_chromium.sh: chromium still missing at $CHROMIUM" >&2
    exit 1
fi
echo "install_chromium.sh: $("$CHROMIUM" --version 2>/dev/null || echo chromium) installed"
