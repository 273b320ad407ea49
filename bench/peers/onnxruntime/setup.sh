#!/usr/bin/env bash
# Installs ONNX Runtime's Node binding (which ships libonnxruntime for Linux
# x64) into bench/peers/onnxruntime/node_modules, exactly the versions in
# package-lock.json, and checks that it loads. Idempotent: does nothing when the
# installed packages already match the lock file. Needs node >= 18 and npm
# (apt install nodejs npm) and the network the first time.
#
#   bench/peers/onnxruntime/setup.sh
#   node bench/peers/onnxruntime/run.mjs --check   # every ONNX fixture vs PyTorch
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "setup.sh: needs node and npm (apt install nodejs npm)" >&2
  exit 1
}
# npm writes node_modules/.package-lock.json on install: when it equals the
# lock file's packages, the install is current.
current() {
  [[ -f node_modules/.package-lock.json ]] &&
    node -e '
      const fs = require("fs");
      const want = JSON.parse(fs.readFileSync("package-lock.json")).packages;
      const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json")).packages;
      const version = (p) => Object.fromEntries(Object.entries(p).filter(([k]) => k).map(([k, v]) => [k, v.version]));
      process.exit(JSON.stringify(version(want)) === JSON.stringify(version(have)) ? 0 : 1);'
}
if current; then
  echo "setup.sh: onnxruntime-node already installed"
else
  # --ignore-scripts: the package's install script would download a CUDA build;
  # the CPU library for Linux x64 is in the package itself.
  npm ci --ignore-scripts --no-audit --no-fund
fi
node -e 'const ort = require("onnxruntime-node");
  console.log(`setup.sh: onnxruntime-node ${ort.env.versions?.common ?? "?"} loads`);'
