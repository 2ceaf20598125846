#!/usr/bin/env bash
# A longer run of the git state backend's kill test: ROUNDS (default 200) seeded SIGKILLs of a
# whole runner (pushform and its git processes) against a bare repository as the remote, each
# followed by an operator's `state unlock` / `state resolve`; at the end every push must have been
# received once and be `sent` on the remote. The test suite runs 30 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
PUSHFORM_GIT_KILL_ROUNDS="${ROUNDS:-200}" cargo test --release --locked --test cli \
  apply::git::random_kills_of_runners_never_send_twice_nor_lose_a_send -- --nocapture
