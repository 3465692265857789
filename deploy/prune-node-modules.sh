#!/bin/sh
# Trims a production node_modules (after `npm prune --omit=dev`) to what this platform loads at
# run time: onnxruntime-node ships binaries for every OS and CPU (darwin, win32, linux arm64, …)
# and loads only its own; better-sqlite3 keeps its SQLite sources, and a compiled addon its
# object files, only for a rebuild: its build/Release/better_sqlite3.node is all it loads. The images
# run it in their build stage; run it by hand on a copy to measure (README, "Docker").
#   deploy/prune-node-modules.sh [NODE_MODULES_DIR]
set -eu
dir="${1:-node_modules}"
keep="$(node -p 'process.platform + "/" + process.arch')"
ort="$dir/onnxruntime-node/bin/napi-v6"
[ -d "$ort/$keep" ] || { echo "no onnxruntime-node binaries for $keep in $ort" >&2; exit 1; }
for platform in "$ort"/*/*; do
  [ "${platform#"$ort/"}" = "$keep" ] || rm -rf "$platform"
done
find "$ort" -mindepth 1 -type d -empty -delete
sqlite="$dir/better-sqlite3"
rm -rf "$sqlite/deps" "$sqlite/src"
if [ -f "$sqlite/build/Release/better_sqlite3.node" ]; then
  mv "$sqlite/build/Release/better_sqlite3.node" "$sqlite/addon.node"
  rm -rf "$sqlite/build"
  mkdir -p "$sqlite/build/Release"
  mv "$sqlite/addon.node" "$sqlite/build/Release/better_sqlite3.node"
fi
