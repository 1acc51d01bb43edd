# shellcheck shell=bash
# Logging, step timings, failing, and pip in a venv: what every part of the build uses.
# Sourced by tools/testhost.sh, which sets the paths (REPO, HOST_DIR, VENV, ...) and the knobs first.

log() { printf '[testhost %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
now() { date +%s.%N; }
TIMINGS=()
record() { TIMINGS+=("$(printf '%-26s %7.1f s' "$1" "$(awk -v a="$2" -v b="$(now)" 'BEGIN{print b-a}')")"); }
fail() { log "FAILED: $*"; exit 1; }

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
