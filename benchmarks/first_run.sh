#!/usr/bin/env bash
# The first `make run` as a new user lives it: a clean clone of this repository, then the time
# until the chat page answers on 127.0.0.1 (install, ingest of the demo corpus, serve).
#
#   benchmarks/first_run.sh          # warm caches: pip's and rag_app's wheel cache as they are
#   benchmarks/first_run.sh --cold   # cold: an empty pip cache and an empty llama.cpp wheel cache
#
# Prints the install's own lines (one a step, with its time), then the total. The clone is in
# a temporary folder, removed at the end.
set -euo pipefail
source_repo=$(cd "$(dirname "$0")/.." && pwd)
port=${PORT:-7991}
work=$(mktemp -d /tmp/rag_app-first-run.XXXXXX)
trap 'if [ -n "$server" ]; then kill -- -"$server" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
server=""

if [ "${1:-}" = --cold ]; then
  export PIP_CACHE_DIR=$work/pip-cache XDG_CACHE_HOME=$work/cache
  echo "cold: empty pip cache and wheel cache in $work"
fi

started=$SECONDS
git clone --quiet "$source_repo" "$work/rag_app"
cd "$work/rag_app"
RAG_APP_PORT=$port setsid make run >"$work/run.log" 2>&1 &  # its own process group, stopped at the end
server=$!
until curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1; do
  if ! kill -0 "$server" 2>/dev/null; then
    cat "$work/run.log"
    echo "make run ended before the page answered"
    exit 1
  fi
  sleep 2
done
sed -n '1,/^Installed/p' "$work/run.log"  # the install's own lines
printf 'clone to page served: %d s\n' $((SECONDS - started))
