# shellcheck shell=bash
# Host 0.33.0: its unmodified ComfyUI tree (vendored tarball or git clone) and its own venv.
# Sourced by tools/testhost.sh, which sets the paths (REPO, HOST_DIR, VENV, ...) and the knobs first.

# The vendored tarball: COMFYUI_033_TARBALL, else shared/ beside the clone (CI keeps a copy there), else
# shared/ beside the main checkout when this is a git worktree.
find_c33_tarball() {
  local name=comfyui-$C33_VERSION.tar.xz common
  if [ -n "${COMFYUI_033_TARBALL:-}" ]; then
    [ -f "$COMFYUI_033_TARBALL" ] || fail "COMFYUI_033_TARBALL=$COMFYUI_033_TARBALL is not a file"
    echo "$COMFYUI_033_TARBALL"; return 0
  fi
  if [ -f "$REPO/../shared/vendor/$name" ]; then echo "$REPO/../shared/vendor/$name"; return 0; fi
  common=$(git -C "$REPO" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
  if [ -n "$common" ] && [ -f "$common/../../shared/vendor/$name" ]; then
    echo "$common/../../shared/vendor/$name"; return 0
  fi
  return 1
}

fetch_comfyui_033() {
  if [ "$(cat "$C33_HOME/.testhost_stamp" 2>/dev/null)" = "$C33_TREE_STAMP" ]; then
    log "ComfyUI $C33_VERSION present"; return 0
  fi
  local t0 tarball; t0=$(now)
  rm -rf "$C33_HOME.tmp"
  if tarball=$(find_c33_tarball); then
    log "ComfyUI $C33_VERSION from $tarball"
    echo "$C33_TARBALL_SHA256  $tarball" | sha256sum -c --status || fail "sha256 mismatch for $tarball"
    mkdir -p "$C33_HOME.tmp"
    tar -xJf "$tarball" -C "$C33_HOME.tmp" --strip-components=1
  else
    log "ComfyUI $C33_VERSION: no vendored tarball; git clone --depth 1 --branch $C33_TAG $C33_GIT_URL"
    git -c advice.detachedHead=false clone -q --depth 1 --branch "$C33_TAG" "$C33_GIT_URL" "$C33_HOME.tmp" \
      || fail "git clone of ComfyUI $C33_TAG failed (no network? put the tarball at ../shared/vendor/ or set COMFYUI_033_TARBALL)"
    [ "$(git -C "$C33_HOME.tmp" rev-parse HEAD)" = "$C33_COMMIT" ] || fail "tag $C33_TAG is not commit $C33_COMMIT"
    rm -rf "$C33_HOME.tmp/.git"
  fi
  grep -q "__version__ = \"$C33_VERSION\"" "$C33_HOME.tmp/comfyui_version.py" || fail "not ComfyUI $C33_VERSION"
  mkdir -p "$C33_HOME.tmp/custom_nodes"
  rm -rf "$C33_HOME"
  mv "$C33_HOME.tmp" "$C33_HOME"
  echo "$C33_TREE_STAMP" > "$C33_HOME/.testhost_stamp"
  record "ComfyUI $C33_VERSION tree" "$t0"
}

build_venv_033() {
  local py=$C33_VENV/bin/python
  if [ -x "$py" ] && [ "$(cat "$C33_VENV/.testhost_stamp" 2>/dev/null)" = "$C33_VENV_STAMP" ]; then
    log "venv $C33_VERSION up to date"; return 0
  fi
  local t0; t0=$(now)
  rm -rf "$C33_VENV"
  "$PYTHON" -m venv "$C33_VENV"
  pip_in "$py" install torch==2.13.0
  printf '%s\n' "$C33_REQS" > "$C33_VENV/comfy-requirements.txt"
  pip_in "$py" install -r "$C33_VENV/comfy-requirements.txt" -r "$REPO/requirements.txt"
  # shellcheck disable=SC2086
  pip_in "$py" install --no-deps $NODEPS_PINS
  make_torch_extras_cpu_safe "$py"
  "$py" -c 'import torch, torchvision, torchaudio, spandrel, av, aiohttp, requests, httpx, httpx_sse
import comfy_kitchen, comfy_aimdo, simpleeval, blake3, filelock, OpenGL, comfyui_frontend_package
from torchvision import transforms
assert torch.__version__.startswith("2.13.0"), torch.__version__' \
    || fail "ComfyUI $C33_VERSION's imports do not load in $C33_VENV (or torch was replaced)"
  echo "$C33_VENV_STAMP" > "$C33_VENV/.testhost_stamp"
  record "venv $C33_VERSION" "$t0"
}

build_host_033() {
  fetch_comfyui_033
  build_venv_033
  install_pg_driver "$C33_VENV/bin/python"
  link_pack "$C33_HOME"
  log "host $C33_VERSION ready: python $C33_VENV/bin/python | ComfyUI $C33_HOME (frontend 1.48.7 from its venv)"
  [ ${#TIMINGS[@]} -eq 0 ] || printf '%s\n' "${TIMINGS[@]}" >&2
}
