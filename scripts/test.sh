#!/bin/bash
# The test command (README, .ci/run): installs what is missing, builds, then runs every test on compiled JS with
# node's test runner: unit (pure logic), integration (a real etcd on 127.0.0.1), e2e (the CLI on lab hosts, as root).
# Files run one at a time: e2e labs share the bridge 10.88.0.0/24; each file brings its own lab up and down.
# Extra arguments are passed to `node --test` (e.g. a single file: build/test/unit/config.test.js).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(build/test/unit build/test/integration build/test/e2e)
exec node --test --test-concurrency=1 --test-reporter=spec "${targets[@]}"
