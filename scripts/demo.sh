#!/usr/bin/env bash
# `npm run demo`: the main job on a fresh machine. Installs what is missing, starts a lab node
# (Kamailio + RTPengine + the feature daemon on loopback), validates, plans and applies
# examples/small-office, places a test call between two extensions and one through the IVR, and shows
# the node's status. The lab keeps running afterwards
# (`npx pbxctl lab down` stops it). Set PBXCTL_LAB_DIR / DEMO_PORTS to run it elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
npm run -s build

REPO=examples/small-office
SECRETS="$REPO/.secrets.example.yaml"   # sample passwords; a real repo keeps .secrets.yaml out of git
PORTS="${DEMO_PORTS:-25060}"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "pbxctl validate $REPO"
./bin/pbxctl validate "$REPO" --secrets "$SECRETS" --strict

step "pbxctl lab up"
./bin/pbxctl lab up --repo "$REPO" --ports "$PORTS"

step "pbxctl plan $REPO --target lab"
./bin/pbxctl plan "$REPO" --target lab --secrets "$SECRETS"

step "pbxctl apply $REPO --target lab --auto-approve"
./bin/pbxctl apply "$REPO" --target lab --secrets "$SECRETS" --auto-approve

step "pbxctl lab call --from 320 --to 300 (Sales calls Reception)"
./bin/pbxctl lab call --repo "$REPO" --secrets "$SECRETS" --from 320 --to 300

step "pbxctl lab call --from 320 --dial 700 --dtmf 0 --to 300 (Sales calls the main menu, presses 0 for the front desk)"
./bin/pbxctl lab call --repo "$REPO" --secrets "$SECRETS" --from 320 --dial 700 --dtmf 0 --to 300 --duration 6

step "pbxctl status --target lab"
./bin/pbxctl status --target lab --all

printf '\nThe lab node keeps running: try `npx pbxctl plan %s --target lab --secrets %s` after editing the repo.\nStop it with: npx pbxctl lab down\n' "$REPO" "$SECRETS"
