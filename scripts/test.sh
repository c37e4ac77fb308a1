#!/usr/bin/env bash
# The whole test suite, in order, stopping at the first failure:
#   setup (system packages), typecheck, lint, docs check (links, citations, CI workflow), unit tests, system tests, UI tests (Playwright).
# The last line is a summary: "tests: N passed, N failed, N skipped".
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
skipped=0
done_steps=()

# Adds the counts of a vitest JSON report to the totals.
count() {
  local report=$1 counts
  [ -f "$report" ] || return 0
  counts=$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(r.numPassedTests, r.numFailedTests, (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0));
  ' "$report") || return 0
  read -r p f s <<<"$counts"
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + s))
}

summary() {
  local status=$1
  echo
  echo "test.sh: $status; steps done: ${done_steps[*]:-none}; $(($(date +%s) - start)) s"
  echo "tests: $passed passed, $failed failed, $skipped skipped"
}

step() {
  local name=$1
  shift
  echo "==> $name: $*"
  if ! "$@"; then
    summary "FAILED at $name"
    exit 1
  fi
  done_steps+=("$name")
}

vitest_project() {
  local project=$1 status=0
  npx vitest run --project "$project" --reporter=default --reporter=json \
    --outputFile.json="$work/$project.json" || status=$?
  count "$work/$project.json"
  return "$status"
}

step setup bash scripts/setup.sh --quiet
step typecheck npm run --silent typecheck
step lint npm run --silent lint
step docs npm run --silent docs:check
step unit vitest_project unit
step system vitest_project system
step ui vitest_project ui

summary "all steps passed"
