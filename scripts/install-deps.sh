#!/usr/bin/env bash
# Installs what pbxctl's build and tests need and is missing: npm packages from the lockfile.
# Idempotent and quick when everything is present. (Debian packages for the end-to-end suites
# — kamailio, rtpengine-daemon, sip-tester — are added here as those suites land.)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing npm packages (npm ci)..."
  npm ci --no-audit --no-fund
fi
