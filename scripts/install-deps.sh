#!/usr/bin/env bash
# Installs what pbxctl's build, lab node and tests need and is missing: the npm packages from the
# lockfile, and the Debian packages of the node's parts (Kamailio 5.6, RTPengine 10.5, sipp) and of
# prompt rendering (espeak-ng synthesizes text prompts, sox converts audio to 8 kHz WAV).
# Idempotent and quick when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(kamailio kamailio-json-modules kamailio-extra-modules kamailio-utils-modules rtpengine-daemon sip-tester espeak-ng sox openssh-server tmux)

missing=()
command -v kamailio >/dev/null 2>&1 || missing+=(kamailio)
[ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/jsonrpcs.so ] || [ -n "$(ls /usr/lib/*/kamailio/modules/jsonrpcs.so 2>/dev/null)" ] || missing+=(kamailio-json-modules)
[ -n "$(ls /usr/lib/*/kamailio/modules/xhttp.so 2>/dev/null)" ] || missing+=(kamailio-extra-modules)
command -v rtpengine >/dev/null 2>&1 || missing+=(rtpengine-daemon)
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v sox >/dev/null 2>&1 || missing+=(sox)
# The SSH node e2e test (test/e2e/ssh-node.e2e.test.ts) runs its own sshd on a loopback port.
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
# The calls tail e2e test (test/e2e/calls-tail.e2e.test.ts) drives the terminal UI in a tmux pane.
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${DEBIAN_PACKAGES[*]} (missing: ${missing[*]})"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
      echo "error: need root to install ${DEBIAN_PACKAGES[*]}; run as root: apt-get update && apt-get install -y ${DEBIAN_PACKAGES[*]}" >&2
      exit 1
    fi
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${DEBIAN_PACKAGES[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing npm packages (npm ci)..."
  npm ci --no-audit --no-fund
fi
