#!/usr/bin/env bash
# Installs what stacklens's tests need, when it is missing, then runs the
# whole suite with the race detector:
#   - llvm-symbolizer (apt package llvm): ground truth for native symbolication
#   - chromium (apt): the web viewer's browser test
#   - the pinned MinIO server (scripts/install-minio.sh): S3 backend tests
#   - python3.11-dbg, clang-14, lld-14 (apt): native ground truth
#   - pinned node packages (npm install in testdata/node): JS ground truth
# Needs only Go, gcc, node/npm and apt on a fresh Debian/Ubuntu machine.
#
# Usage: scripts/test.sh [go test arguments]   (default: ./...)
# STACKLENS_SKIP_INSTALL=1 skips the installation step.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

as_root() {
	if [[ "$(id -u)" -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

apt_updated=0
apt_install() {
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these by hand: $*"
	if [[ "$apt_updated" -eq 0 ]]; then
		as_root apt-get update
		apt_updated=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

ensure_llvm_symbolizer() {
	if command -v llvm-symbolizer >/dev/null 2>&1; then
		return
	fi
	log "installing llvm (for llvm-symbolizer)"
	apt_install llvm
	command -v llvm-symbolizer >/dev/null 2>&1 || die "llvm-symbolizer still not on PATH after installing llvm"
}

# Chromium is needed by the web viewer's browser test (server/viewer).
ensure_chromium() {
	if command -v chromium >/dev/null 2>&1; then
		return
	fi
	log "installing chromium (for the web viewer test)"
	apt_install chromium
	command -v chromium >/dev/null 2>&1 || die "chromium still not on PATH after installing it"
}

# Native ground truth: python3.11-dbg is the large real C binary (with its
# separate debug file) checked against llvm-symbolizer; clang and lld build
# PE images with DWARF in the symbolizer's tests.
ensure_native_tools() {
	local missing=()
	[[ -x /usr/bin/python3.11d ]] || missing+=(python3.11-dbg)
	command -v clang-14 >/dev/null 2>&1 || missing+=(clang-14)
	command -v ld.lld-14 >/dev/null 2>&1 || command -v ld.lld >/dev/null 2>&1 || missing+=(lld-14)
	if [[ ${#missing[@]} -gt 0 ]]; then
		log "installing ${missing[*]} (native ground truth)"
		apt_install "${missing[@]}"
	fi
}

ensure_minio() {
	./scripts/install-minio.sh
}

# node_modules is up to date when every package npm installed matches
# package-lock.json and every non-optional locked package is installed
# (optional ones are other platforms' binaries).
node_modules_current() {
	[[ -f testdata/node/node_modules/.package-lock.json ]] || return 1
	(cd testdata/node && node -e '
		const want = require("./package-lock.json").packages;
		const have = require("./node_modules/.package-lock.json").packages;
		for (const [k, v] of Object.entries(want)) {
			if (k === "") continue;
			if (!have[k] ? !v.optional : have[k].version !== v.version) process.exit(1);
		}
		for (const k of Object.keys(have)) if (!want[k]) process.exit(1);
	')
}

ensure_node_modules() {
	command -v node >/dev/null 2>&1 || die "node is not on PATH (install Node.js 20 or later)"
	command -v npm >/dev/null 2>&1 || die "npm is not on PATH"
	if node_modules_current; then
		return
	fi
	log "installing pinned node packages in testdata/node"
	# npm install, not npm ci: with omit-lockfile-registry-resolved (as npm is
	# configured here) the lock file lacks other platforms' optional packages
	# (@rollup/rollup-darwin-*, …) and npm ci refuses it as out of sync.
	# npm install still installs exactly the locked versions.
	(cd testdata/node && npm install --ignore-scripts --no-audit --no-fund)
}

command -v go >/dev/null 2>&1 || die "go is not on PATH"
command -v gcc >/dev/null 2>&1 || die "gcc is not on PATH (needed by -race and by native test fixtures)"

if [[ "${STACKLENS_SKIP_INSTALL:-}" != "1" ]]; then
	ensure_llvm_symbolizer
	ensure_native_tools
	ensure_chromium
	ensure_minio
	ensure_node_modules
fi

if [[ $# -eq 0 ]]; then
	set -- ./...
fi
log "go test -race -count=1 -timeout 45m $*"
exec go test -race -count=1 -timeout 45m "$@"
