#!/usr/bin/env bash
# Print the interpreter to build the project with: python3.12 (the Lambda runtime) when this
# machine has one, on PATH or under pyenv; otherwise python3 (3.11+ works for everything but
# `sam build`, whose test then skips).
set -euo pipefail
if command -v python3.12 >/dev/null 2>&1 && python3.12 -c '' 2>/dev/null; then
  command -v python3.12; exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
  for dir in "$(pyenv root)"/versions/3.12*/bin; do
    if [ -x "$dir/python3.12" ]; then echo "$dir/python3.12"; exit 0; fi
  done
fi
command -v python3
