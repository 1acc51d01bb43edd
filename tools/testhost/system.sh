# shellcheck shell=bash
# Debian's packages (chromium for the browser tests, postgresql for the journal tests) and the
# PostgreSQL driver in a venv.
# Sourced by tools/testhost.sh, which sets the paths (REPO, HOST_DIR, VENV, ...) and the knobs first.

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

