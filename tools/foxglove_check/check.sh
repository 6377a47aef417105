#!/usr/bin/env bash
# Open a recorded simulation.mcap in Foxglove Studio (the open-source @foxglove/studio-base@1.48.0
# web bundle, MPL-2.0) in headless Chromium, offline, and screenshot the views. See README.md.
#
#   tools/foxglove_check/check.sh [RECORDING.mcap] [OUT_DIR]
#
# Without RECORDING, records one expert episode first (experiment-runner collect). Needs chromium
# (Debian: apt-get install -y chromium), npm (only the first time, to fetch the bundle) and python3.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
WORK="${FOXCHECK_DIR:-/tmp/foxcheck-viewer}"        # scratch: bundle, viewer page, recordings
OUT="${2:-$WORK/out-$(date +%Y%m%d-%H%M%S)}"
STUDIO_BASE="@foxglove/studio-base@1.48.0"
mkdir -p "$WORK"

command -v "${CHROMIUM:-chromium}" >/dev/null || { echo "chromium missing: apt-get install -y chromium" >&2; exit 2; }

MCAP="${1:-}"
if [[ -z "$MCAP" ]]; then
  rm -rf "$WORK/runs"
  (cd "$REPO" && uv run experiment-runner collect --episodes 1 --out "$WORK/runs" --workers 1)
  MCAP="$(ls "$WORK"/runs/*/train/seed_0000000/simulation.mcap | head -1)"
fi
MCAP="$(cd "$(dirname "$MCAP")" && pwd)/$(basename "$MCAP")"

# The viewer: studio-base's prebuilt UMD bundle (assets/) + React 17 UMD + our host page.
VIEWER="$WORK/viewer"
if [[ ! -f "$WORK/pkg/studio-base/assets/index.js" ]]; then
  mkdir -p "$WORK/pkg" && cd "$WORK/pkg"
  for spec in "$STUDIO_BASE" react@17.0.2 react-dom@17.0.2; do
    tgz="$(npm pack --silent "$spec" | tail -1)"
    name="${spec%@*}"; name="${name##*/}"
    rm -rf "$name" && mkdir "$name" && tar xzf "$tgz" -C "$name" --strip-components=1 && rm "$tgz"
  done
fi
mkdir -p "$VIEWER"
ln -sfn "$WORK/pkg/studio-base/assets" "$VIEWER/assets"
cp "$WORK/pkg/react/umd/react.production.min.js" "$WORK/pkg/react-dom/umd/react-dom.production.min.js" \
   "$HERE/index.html" "$VIEWER/"

PORT="${FOXCHECK_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
python3 "$HERE/serve.py" "$VIEWER" --port "$PORT" --mount "/data=$(dirname "$MCAP")" >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done

FILE="$(basename "$MCAP")"
URL="http://127.0.0.1:$PORT/?ds=remote-file&ds.url=http://127.0.0.1:$PORT/data/$FILE"
echo "viewer: $URL"
python3 "$HERE/shot.py" "$URL" "$OUT"
