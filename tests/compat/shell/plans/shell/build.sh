#!/usr/bin/env bash
# The build step: runs once per build, in the build folder. Stamps what built it, so
# the plan can show that it runs the build's output, not the plan folder.
set -euo pipefail
[[ ${1:-} == --stamp && -n ${2:-} ]] || { echo "usage: build.sh --stamp FILE" >&2; exit 2; }
bash -n plan.sh
echo "built by bash ${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}" >"$2"
echo "build.sh: wrote $2"
