#!/usr/bin/env bash
# Runs every benchmark of a build tree: bench/run.sh BUILD_DIR [NAME...]
set -euo pipefail
dir=${1:?usage: bench/run.sh BUILD_DIR [NAME...]}
shift
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$(dirname "$0")"/*.c; do names+=("$(basename "$f" .c)"); done
fi
for n in "${names[@]}"; do
  echo "== bench/$n"
  "$dir/bench/hs-bench-$n"
  echo
done
