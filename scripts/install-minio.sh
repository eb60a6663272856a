#!/usr/bin/env bash
# Installs the pinned MinIO server used by the S3 storage tests into
# ${STACKLENS_TOOLS:-$HOME/.cache/stacklens-tools}/bin/minio.
#
# MinIO's repository is archived; the module still builds with `go install`
# (about 5 minutes cold, ~150 MB binary). The script is idempotent: it does
# nothing when the binary is there and is the pinned version, as recorded in
# the stamp file beside it (or, for a binary built without the stamp, as its
# embedded Go build info says).
set -euo pipefail

MINIO_MODULE="github.com/minio/minio"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"

tools="${STACKLENS_TOOLS:-$HOME/.cache/stacklens-tools}"
bin_dir="$tools/bin"
bin="$bin_dir/minio"
stamp="$bin_dir/minio.version"
want="$MINIO_MODULE@$MINIO_VERSION"

log() { printf 'install-minio: %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
	log "error: go is not on PATH; it is needed to build MinIO"
	exit 1
fi

if [[ -x "$bin" ]]; then
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
		log "MinIO $MINIO_VERSION already installed at $bin"
		exit 0
	fi
	# A binary without a (matching) stamp: trust its embedded build info.
	built="$(go version -m "$bin" 2>/dev/null | awk '$1 == "mod" && $2 == "'"$MINIO_MODULE"'" { print $2 "@" $3 }')"
	if [[ "$built" == "$want" ]]; then
		printf '%s\n' "$want" >"$stamp"
		log "MinIO $MINIO_VERSION already installed at $bin (stamp written)"
		exit 0
	fi
	log "replacing $bin (it is ${built:-of unknown version}, want $MINIO_VERSION)"
fi

mkdir -p "$bin_dir"
log "building $want into $bin_dir (takes a few minutes the first time)"
rm -f "$stamp"
GOBIN="$bin_dir" go install "$want"
"$bin" --version >/dev/null
printf '%s\n' "$want" >"$stamp"
log "installed MinIO $MINIO_VERSION at $bin"
