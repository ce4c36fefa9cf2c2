#!/usr/bin/env bash
# WebGPU without a GPU: point Dawn (npm `webgpu`) at SwiftShader, the software Vulkan driver that
# Debian's chromium package ships (/usr/lib/chromium/vk_swiftshader_icd.json). Dawn also needs the
# Vulkan loader (libvulkan.so.1, Debian package libvulkan1).
#
#   source scripts/webgpu-env.sh            # export VK_ICD_FILENAMES for this shell
#   scripts/webgpu-env.sh --install         # apt-get install chromium libvulkan1 (as root), then check
#   scripts/webgpu-env.sh --check           # print the adapter Dawn finds
#
# The tests (test/webgpu/gpu-env.ts) do the same lookup themselves and skip with the reason when
# no adapter is found.
_rosetta_webgpu_main() {
  local root icd
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ "${1:-}" = "--install" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium libvulkan1 >/dev/null || { echo "apt-get install chromium libvulkan1 failed" >&2; return 1; }
  fi
  if [ -z "${VK_ICD_FILENAMES:-}" ]; then
    for icd in /usr/lib/chromium/vk_swiftshader_icd.json /usr/lib/chromium-browser/vk_swiftshader_icd.json; do
      if [ -f "$icd" ]; then export VK_ICD_FILENAMES="$icd"; break; fi
    done
  fi
  if [ -z "${VK_ICD_FILENAMES:-}" ]; then
    echo "webgpu-env: no SwiftShader ICD found; run: $0 --install (Debian), or use a machine with a GPU driver" >&2
  fi
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
    echo "webgpu-env: the Vulkan loader libvulkan.so.1 is missing; apt-get install libvulkan1" >&2
  fi
  if [ "${1:-}" = "--check" ] || [ "${1:-}" = "--install" ]; then
    (cd "$root" && node -e '
      import("webgpu").then(async ({ create }) => {
        const gpu = create([]);
        const a = await gpu.requestAdapter();
        if (!a) { console.log("no adapter"); process.exitCode = 1; return; }
        const i = a.info ?? {};
        console.log(`adapter: ${[i.vendor, i.architecture, i.description].filter(Boolean).join(" ")}`);
      }, (e) => { console.log(`webgpu package missing: ${e.message}`); process.exitCode = 1; });
    ' 2>/dev/null)
  fi
}
_rosetta_webgpu_main "$@"
