#!/usr/bin/env bash
# `npm run demo`: the main job, end to end, on a fresh machine.
# Today: installs what is missing, builds, validates both example repos and scaffolds a new repo.
# (Starting a lab Kamailio + RTPengine node, applying a repo and a test call come with `pbxctl lab`/`apply`.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
npm run -s build

for ex in examples/small-office examples/call-center; do
  echo "== pbxctl validate $ex"
  ./bin/pbxctl validate "$ex" --secrets "$ex/.secrets.example.yaml" --strict
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== pbxctl init $tmp/my-pbx && pbxctl validate --strict"
./bin/pbxctl init "$tmp/my-pbx" --domain pbx.example.com
./bin/pbxctl validate "$tmp/my-pbx" --strict
