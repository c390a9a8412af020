#!/usr/bin/env bash
# Install what building and testing wsconform needs on Debian 12 (bookworm).
#
# Debian packages: only the missing ones, with apt-get when we are root; otherwise print the
# command to run and fail. npm packages ws (the independent peer used by the interop tests and
# the benchmark) and @stomp/stompjs (the independent STOMP client) go into a project-local
# folder, $WSC_NODE_DIR (default build/node), which is not in git. Without the npm registry
# that step only warns: the tests that need them then skip and say why.
#
# Quiet when nothing is missing. Environment: WSC_NODE_DIR, WSC_WS_VERSION (default 8.23.0),
# WSC_STOMPJS_VERSION (default 7.5.0).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODE_DIR=${WSC_NODE_DIR:-$ROOT/build/node}
WS_VERSION=${WSC_WS_VERSION:-8.23.0}
STOMPJS_VERSION=${WSC_STOMPJS_VERSION:-7.5.0}
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT

PKGS=(
  build-essential gcc make pkg-config
  clang libclang-rt-14-dev llvm           # sanitizer/fuzzer runtimes, llvm-cov, llvm-profdata
  libssl-dev libcurl4-openssl-dev zlib1g-dev libcmocka-dev
  perl                                    # prove
  openssl ca-certificates                 # test certificates; npm's registry over TLS
  python3 python3-websockets              # independent peer (Debian's python: /usr/bin/python3)
  nodejs npm                              # independent peer ws, benchmark peer
  util-linux                              # taskset (the benchmark pins server and client)
  libxml2-utils                           # xmllint: JUnit reports are validated against reports/junit.xsd
  rabbitmq-server                         # real STOMP broker (web-stomp) for STOMP interop tests and benchmarks;
                                          # never started as a service: scripts/rabbitmq.sh runs private instances
)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${PKGS[@]}"; do
  case $p in
    # NodeSource's nodejs bundles npm (and conflicts with Debian's npm package): a working
    # command is what counts, whichever package brought it.
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    {
      echo "deps.sh: missing Debian packages: ${missing[*]}"
      echo "deps.sh: install them as root with:"
      echo "    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive $cmd"
    } >&2
    exit 1
  fi
  echo "deps.sh: installing ${missing[*]}" >&2
  have_lists=$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null || true)
  # Package lists may be absent (fresh image) or stale (a superseded version 404s): update
  # only then, so a machine that has everything never touches the network.
  if [ -z "$have_lists" ]; then
    apt-get update >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  fi
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    apt-get update >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
      cat "$log" >&2
      echo "deps.sh: apt-get install failed: ${missing[*]}" >&2
      exit 1
    fi
  fi
fi

# npm ws and @stomp/stompjs (the independent STOMP client), pinned, in the project-local
# folder. The version checks make a re-run free.
npm_version() { # npm_version PKG: the installed version, or nothing
  local pkg=$NODE_DIR/node_modules/$1/package.json
  if [ -f "$pkg" ]; then node -p "require('$pkg').version" 2>/dev/null || true; fi
}
if [ "$(npm_version ws)" != "$WS_VERSION" ] || [ "$(npm_version @stomp/stompjs)" != "$STOMPJS_VERSION" ]; then
  mkdir -p "$NODE_DIR"
  [ -f "$NODE_DIR/package.json" ] || echo '{"name":"wsconform-peers","private":true}' >"$NODE_DIR/package.json"
  # npm keeps its cache under $HOME; a bare environment may not have one.
  [ -n "${HOME:-}" ] || export npm_config_cache="$NODE_DIR/.npm-cache"
  # Bounded: without a registry npm would otherwise retry for minutes.
  if ! (cd "$NODE_DIR" && timeout 300 npm install --no-audit --no-fund --no-save \
          --fetch-retries=2 --fetch-timeout=60000 --loglevel=error "ws@$WS_VERSION" \
          "@stomp/stompjs@$STOMPJS_VERSION") >"$log" 2>&1; then
    echo "deps.sh: WARNING: npm install ws@$WS_VERSION @stomp/stompjs@$STOMPJS_VERSION into" \
         "$NODE_DIR failed; interop tests and benchmarks that need them will be skipped. npm said:" >&2
    sed 's/^/    /' "$log" | tail -n 20 >&2
  fi
fi
exit 0
