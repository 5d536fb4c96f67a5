#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need on a fresh
# Debian/Ubuntu machine, then runs the linters and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v chromium >/dev/null || need+=(chromium)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
if ((${#need[@]})); then
  echo "installing ${need[*]} (Debian packages)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[dev]'

python3 -m ruff check .
python3 -m ruff format --check .
python3 -m mypy bot handlers blocks
python3 -m pytest -q -p no:cacheprovider "$@"
