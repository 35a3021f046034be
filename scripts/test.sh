#!/usr/bin/env bash
# `npm test`: installs what is missing, builds, lints, typechecks, then runs every test suite.
# Ends with a plain "Tests: N passed, N failed" line for CI readers that don't parse vitest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
npm run -s build
npm run -s lint
npm run -s typecheck

report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const failed = r.numFailedTests + (r.numFailedTestSuites && !r.numFailedTests ? r.numFailedTestSuites : 0);
  console.log(`Tests: ${r.numPassedTests} passed, ${failed} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' "$report" || echo "Tests: 0 passed, 1 failed"
exit "$status"
