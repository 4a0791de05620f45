#!/usr/bin/env bash
# The deploy workflow's `services` and `version` inputs as `summit deploy` arguments, one per
# line (for `xargs -d '\n'`). The inputs come in through the environment (SERVICES, VERSION),
# never pasted into a script, so no input can run a command; summit validates every value.
#   SERVICES="web=v2.5.0 gateway"  VERSION=v1.3.0  ->  --service web=v2.5.0 --service gateway
#                                                      --version v1.3.0
#   SERVICES=all VERSION=v1.3.0                    ->  --all-services --version v1.3.0
set -euo pipefail
set -f  # words are service names, never file patterns
if [ "${SERVICES:-}" = "all" ]; then
  printf '%s\n' --all-services
else
  for spec in ${SERVICES:-}; do
    printf '%s\n' --service "$spec"
  done
fi
if [ -n "${VERSION:-}" ]; then
  printf '%s\n' --version "$VERSION"
fi
