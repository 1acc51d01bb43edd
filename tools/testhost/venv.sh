# shellcheck shell=bash
# Host 0.3.75's venv: CPU torch, ComfyUI's pinned requirements, the pack's and the tests' dependencies.
# Sourced by tools/testhost.sh, which sets the paths (REPO, HOST_DIR, VENV, ...) and the knobs first.

# The CPU build of torch ships no C ops for PyPI's torchvision/torchaudio; ComfyUI only uses their
# pure-Python parts, so guard torchvision's two fake-op registrations and let torchaudio take its own
# "extension not available" path by removing its shared objects. Both are no-ops on a CUDA torch.
make_torch_extras_cpu_safe() {
  "$1" - <<'EOF'
import importlib.util
import pathlib

import torch

meta = pathlib.Path(importlib.util.find_spec("torchvision").origin).parent / "_meta_registrations.py"
src = meta.read_text()
mark = "# --- luma-fal testhost: register fake ops only when torchvision's C ops exist ---"
if mark not in src:
    anchor = "import torchvision.extension  # noqa: F401\n"
    if anchor not in src:
        raise SystemExit(f"unexpected torchvision layout in {meta}")
    helper = (
        f"\n{mark}\n"
        "def _register_fake_when_ops_exist(qualname):\n"
        "    def wrap(fn):\n"
        "        if torchvision.extension._has_ops():\n"
        "            return torch.library.register_fake(qualname)(fn)\n"
        "        return fn\n"
        "    return wrap\n"
    )
    src = src.replace(anchor, anchor + helper, 1)
    src = src.replace('@torch.library.register_fake("torchvision::', '@_register_fake_when_ops_exist("torchvision::')
    meta.write_text(src)
if "+cpu" in torch.__version__:
    lib = pathlib.Path(importlib.util.find_spec("torchaudio").origin).parent / "lib"
    for so in lib.glob("*.so"):
        so.unlink()
EOF
}

build_base_venv() {
  if [ -x "$PY" ] && [ "$(cat "$VENV/.base_stamp" 2>/dev/null)" = "$BASE_STAMP" ]; then
    log "venv base up to date"; return 0
  fi
  local t0; t0=$(now)
  "$PYTHON" -c 'import sys; raise SystemExit(0 if sys.version_info[:2] == (3, 11) else f"need CPython 3.11, got {sys.version}")'
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  # torch first and alone: pip then takes the machine's local CPU wheel (/etc/xdg/pip may cap torch;
  # 2.13.0 is within the cap).
  pip_q install torch==2.13.0
  # (numpy is not there yet: silence torch's warning about it)
  PYTHONWARNINGS=ignore "$PY" -W ignore -c 'import torch; v = torch.__version__; assert v.startswith("2.13.0"), v' \
    || fail "torch is not 2.13.0"
  printf '%s\n' "$COMFY_REQS" > "$CACHE_DIR/comfy-requirements.txt"
  pip_q install -r "$CACHE_DIR/comfy-requirements.txt"
  # shellcheck disable=SC2086
  pip_q install --no-deps $NODEPS_PINS
  make_torch_extras_cpu_safe "$PY"
  "$PY" -c 'import torch, torchvision, torchaudio, spandrel, av, aiohttp, requests; from torchvision import transforms' \
    || fail "ComfyUI's imports do not load in the venv"
  "$PY" -c 'import torch; v = torch.__version__; assert v.startswith("2.13.0"), v' || fail "torch was replaced"
  echo "$BASE_STAMP" > "$VENV/.base_stamp"
  rm -f "$VENV/.pack_stamp"
  record "venv base" "$t0"
}

install_pack_deps() {
  if [ "$(cat "$VENV/.pack_stamp" 2>/dev/null)" = "$PACK_STAMP" ]; then
    log "pack + test deps up to date"; return 0
  fi
  local t0; t0=$(now)
  # torch pinned in the same resolve: nothing the pack or the tests ask for may move it.
  # shellcheck disable=SC2086
  pip_q install -r "$REPO/requirements.txt" $TEST_PINS torch==2.13.0
  "$PY" -c 'import httpx, httpx_sse, pytest, pytest_timeout, fal_client, playwright, psutil, torch, git, comfy_cli
assert torch.__version__.startswith("2.13.0"), torch.__version__' || fail "pack/test deps do not import"
  echo "$PACK_STAMP" > "$VENV/.pack_stamp"
  record "pack + test deps" "$t0"
}
