#!/usr/bin/env bash
# Installs the Debian packages the test suite drives as real peers, when they are missing.
# Runs as root on Debian (CI, fresh machines); elsewhere it prints what is missing and goes on,
# and the tests that need a missing program skip with a loud message.
set -euo pipefail
# With arguments: only those packages (make demo installs espeak-ng for the IVR's spoken prompts).
packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=(postgresql sip-tester baresip-core espeak-ng chromium fonts-wqy-microhei)
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# postgresql: storage tests on a real server; sip-tester (SIPp) and baresip-core: real SIP peers; espeak-ng: TTS prompts;
# chromium: the browser tests (Playwright drives /usr/bin/chromium headless); fonts-wqy-microhei: CJK glyphs in its screenshots.
for pkg in "${packages[@]}"; do
  have_pkg "$pkg" || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-test-deps: missing Debian packages: ${need[*]} (not root or no apt-get; tests needing them skip, IVR prompts without espeak-ng are beeps)" >&2
  exit 0
fi
echo "install-test-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
