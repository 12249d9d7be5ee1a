#!/usr/bin/env bash
# Builds the optional native engine (native/build/Release/ben_native.node) against Debian's oneDNN
# (apt-get install libdnnl-dev) with node-gyp and the running Node's own headers (no download).
# Run by `npm run build:native`; never by `npm ci`, so a machine without the library still installs.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f /usr/include/oneapi/dnnl/dnnl.hpp ]; then
  echo "native engine: oneDNN headers not found (apt-get install libdnnl-dev); not built." >&2
  exit 1
fi
nodedir="$(node -p "require('path').resolve(process.execPath, '../..')")"
# npm puts its bundled node-gyp on PATH for scripts; else find npm's copy.
if command -v node-gyp >/dev/null; then gyp=(node-gyp); else
  gyp=(node "$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js")
fi
args=(rebuild)
# The running Node's headers, when installed (Debian's nodejs ships them): no download needed.
[ -f "$nodedir/include/node/node_api.h" ] && args+=(--nodedir="$nodedir")
"${gyp[@]}" "${args[@]}" --loglevel=warn >/dev/null
node -e "const a = require('./build/Release/ben_native.node').info(); console.log('native engine: oneDNN ' + a.version + ', ' + a.isa + ', ' + a.threads + ' threads')"
