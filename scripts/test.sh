#!/usr/bin/env bash
# npm test: the host's packages, the build, the checks that need no guest, then
# the guest tests. On a fresh machine each guest image takes minutes to build,
# mostly downloads and dpkg; they build in the background, at a lower priority,
# while the host-only checks run, so the guest run finds them cached. A
# background build that fails is built again, its error shown, by the first
# guest that needs it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-host.sh
npm run package

images_log=$(mktemp -t kl-images.XXXXXX)
# setsid: the build gets a process group of its own, so a failed check stops all of it.
setsid nice -n 10 bash -c 'for dist in bookworm trixie; do bash scripts/guest/build-image.sh "$dist"; done' \
  >"$images_log" 2>&1 &
images=$!
trap 'kill -TERM -- "-$images" 2>/dev/null || true' EXIT

npm run typecheck
npm run lint
npx vitest run --project unit --project integration

echo "test: waiting for the guest images (build log: $images_log)"
if ! wait "$images"; then echo "test: the background image build failed; the guest run builds it again"; fi
grep '^testbed:' "$images_log" || true
trap - EXIT
npx vitest run --project guest
