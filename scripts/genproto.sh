#!/usr/bin/env bash
# Regenerates the Go code for proto/flame/v1 with the pinned toolchain:
# protoc from Debian (installed here when missing) and protoc-gen-go /
# protoc-gen-go-grpc pinned as tools in go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v protoc >/dev/null 2>&1; then
  echo "protoc not found; installing Debian's protobuf-compiler" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq protobuf-compiler libprotobuf-dev >/dev/null
fi

mod=$(go list -m)
protoc -I proto \
  --plugin=protoc-gen-go="$(go tool -n protoc-gen-go)" \
  --plugin=protoc-gen-go-grpc="$(go tool -n protoc-gen-go-grpc)" \
  --go_out=. --go_opt=module="$mod" \
  --go-grpc_out=. --go-grpc_opt=module="$mod" \
  proto/flame/v1/*.proto
