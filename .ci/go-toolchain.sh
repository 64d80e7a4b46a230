#!/usr/bin/env bash
# Prints the folder of a Go toolchain that can build the test tools (actionlint for the workflow
# test, FerretDB for the Mongo tests): the machine's `go` when it is 1.21 or newer (it then
# fetches the newer toolchain a module asks for by itself), else Go $GO_VERSION from the Go module
# proxy, the same archive `GOTOOLCHAIN` downloads, checked against its SHA-256 and cached outside
# the repository. Exits non-zero with one "go-toolchain:" line when none can be had.
set -euo pipefail

readonly GO_VERSION=1.26.8
declare -A ZIP_SHA256=(
  [amd64]=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
  [arm64]=02b36b6787b3ac767668f630e2998df45a3b1f9ffee08d1bf3ef6487cd658d99
)
readonly CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/nifty-shop/go-$GO_VERSION"
readonly DOWNLOAD_TIMEOUT_S=600

die() { echo "go-toolchain: $*" >&2; exit 1; }

machine_go() {
  local go
  go=$(command -v go || true)
  [[ -n "$go" ]] || { [[ -x /usr/local/go/bin/go ]] && go=/usr/local/go/bin/go; }
  [[ -n "$go" ]] || return 1
  # "go1.19.8" → 19: toolchain switching (GOTOOLCHAIN) came with Go 1.21.
  local minor
  minor=$("$go" env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
  [[ "$minor" =~ ^[0-9]+$ ]] && ((minor >= 21)) || return 1
  dirname "$go"
}

fetched_go() {
  local arch
  case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no Go toolchain for $(uname -m) here: install Go 1.21 or newer" ;;
  esac
  local name="v0.0.1-go$GO_VERSION.linux-$arch"
  local root="$CACHE_DIR/golang.org/toolchain@$name"
  if [[ ! -x "$root/bin/go" ]]; then
    echo "go-toolchain: fetching Go $GO_VERSION from the Go module proxy (first run only)" >&2
    mkdir -p "$CACHE_DIR"
    local zip="$CACHE_DIR/$name.zip.partial"
    timeout "$DOWNLOAD_TIMEOUT_S" curl -sSfL -o "$zip" \
      "https://proxy.golang.org/golang.org/toolchain/@v/$name.zip" || die "download of Go $GO_VERSION failed"
    echo "${ZIP_SHA256[$arch]}  $zip" | sha256sum -c --quiet - >&2 || die "Go $GO_VERSION archive: wrong checksum"
    python3 -m zipfile -e "$zip" "$CACHE_DIR" && rm -f "$zip"
    # zipfile keeps no file modes: the toolchain's programs must be executable again.
    chmod -R a+x "$root/bin" "$root/pkg/tool"
  fi
  echo "$root/bin"
}

machine_go || fetched_go
