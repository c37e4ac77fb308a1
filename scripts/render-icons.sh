#!/usr/bin/env bash
# Renders resources/icon.svg to the PNG sizes the installers use (resources/icons/NxN.png),
# with Debian's headless Chromium on a transparent background.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v chromium >/dev/null || {
  echo "render-icons: chromium not found (bash scripts/setup.sh installs it)" >&2
  exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p resources/icons
svg="file://$PWD/resources/icon.svg"

for size in 512 256; do
  cat >"$tmp/page.html" <<HTML
<!doctype html>
<html><head><style>
  html, body { margin: 0; padding: 0; background: transparent; overflow: hidden; }
  img { display: block; width: ${size}px; height: ${size}px; }
</style></head><body><img src="$svg"></body></html>
HTML
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$tmp/profile" --default-background-color=00000000 \
    --window-size="$size,$size" --screenshot="resources/icons/${size}x${size}.png" \
    "file://$tmp/page.html" >/dev/null 2>&1
  echo "resources/icons/${size}x${size}.png"
done
