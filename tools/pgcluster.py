"""A throwaway PostgreSQL cluster for the tests and the bench: initdb + pg_ctl under ``.testhost/pg/``.

Debian's server package (``apt-get install postgresql``; tools/testhost.sh installs it when missing)
provides the binaries in ``/usr/lib/postgresql/<major>/bin``; no system service is used. initdb refuses
to run as root, so as root every server command runs as the ``postgres`` user the package creates
(``runuser``); when that user cannot enter the checkout (a clone under /root), the cluster goes under
the system's temporary folder instead. The cluster listens on a free loopback port, with a password (scram) for TCP, so the
journal's URL carries one as a studio's would.

    cluster = PgCluster.create("tests")   # initdb into .testhost/pg/tests, start it
    url = cluster.new_database("journal_a")
    cluster.restart(); cluster.stop()
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tools.layout import REPO, free_port

PG_ROOT = REPO / ".testhost" / "pg"
USER = "luma"
PASSWORD = "fleet-test-pw"  # a throwaway cluster's; it is what the redaction tests look for
RUN_AS = os.environ.get("LUMA_FAL_PG_RUN_AS", "postgres")  # the OS user that runs the server when we are root


class PgUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (the message says how to install them)."""


def bin_dir() -> Path:
    """The newest installed server's bin folder (``PG_BIN`` overrides)."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise PgUnavailable("PostgreSQL's server is not installed: apt-get install postgresql (tools/testhost.sh "
                            "does it), or set PG_BIN to its bin folder")
    return found[-1].parent


def _cluster_root(name: str) -> Path:
    """``.testhost/pg/<name>``, unless the server user could not reach it (run as root from a clone under a
    private home such as /root): then a folder of the same name under the system's temporary folder."""
    root = PG_ROOT / name
    if os.geteuid() != 0:
        return root
    for parent in root.parents:
        if parent.exists() and not parent.stat().st_mode & 0o001:  # no "others may enter": postgres can't
            return Path(tempfile.gettempdir()) / "luma-fal-pg" / name
    return root


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", RUN_AS, "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class PgCluster:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @classmethod
    def create(cls, name: str, *, port: int | None = None) -> PgCluster:
        """A new, empty cluster (anything under ``.testhost/pg/<name>`` is replaced), started."""
        cluster = cls(_cluster_root(name), port or free_port())
        if cluster.root.exists():
            cluster._ctl("stop", "-m", "immediate", check=False)
            shutil.rmtree(cluster.root)
        (cluster.root / "sock").mkdir(parents=True)
        cluster.root.parent.chmod(0o755)
        pwfile = cluster.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(cluster.root, RUN_AS)
            shutil.chown(cluster.root / "sock", RUN_AS)
            shutil.chown(pwfile, RUN_AS)
        subprocess.run(_as_server_user([str(bin_dir() / "initdb"), "-D", str(cluster.data), "-U", USER,
                                        f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust",
                                        "-E", "UTF8", "--no-instructions"]),
                       check=True, capture_output=True)
        pwfile.unlink()
        cluster.start()
        return cluster

    def _ctl(self, *args: str, check: bool = True) -> None:
        argv = [str(bin_dir() / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), *args]
        done = subprocess.run(_as_server_user(argv), capture_output=True, text=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {done.stderr.strip()}\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._ctl("start", "-w", "-t", "60", "-o", options)

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-w", "-m", mode, check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        auth = f"{USER}:{PASSWORD}" if password else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str) -> str:
        """A fresh empty database (dropped first if it exists); returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
