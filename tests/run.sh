#!/usr/bin/env bash
# The one test command (README, .ci/run). On a fresh Debian/Ubuntu clone with only the
# system python3 (3.11+): installs the Debian packages the tests need when missing, sets up
# .venv in the checkout with the bot and its dev tools (bot/venv.py: again only when
# pyproject.toml changed), then runs the linters and the whole suite inside it.
# Arguments go to pytest: `bash tests/run.sh tests/unit -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v chromium >/dev/null || need+=(chromium)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v promtool >/dev/null || need+=(prometheus)  # promtool: /metrics follows the naming rules
if ((${#need[@]})); then
  echo "installing ${need[*]} (Debian packages)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# the venv's python (made, or updated, on the way); one line and exit 2 when it cannot be
py=$(python3 -m bot.venv dev)

"$py" -m ruff check .
"$py" -m ruff format --check .
"$py" -m mypy bot handlers blocks
"$(dirname "$py")/lint-imports"  # the arrows of docs/architecture.md (pyproject.toml)
"$py" -m pytest -q -p no:cacheprovider "$@"
