"""README's "Add it to your project", followed literally, in a project that has nothing of chat.

The library is built as a wheel and installed in a fresh virtualenv; ``django-admin startproject``
makes a project, ``startapp`` an app, and every code block of that README section whose first line
names a file (``# notes/models.py``) is written (or appended, ``(append)``) there. The project
migrates on a real Postgres, serves with daphne, and a WebSocket client receives the frames of an
ORM save, a ``QuerySet.update()`` and a raw SQL insert; another user is refused; the URL that
``{% realtime_script %}`` renders there answers with the client.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest
import websockets
from psycopg import conninfo, sql

from listener import connection
from tests import servers

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECTION = re.compile(r"^## Add it to your project\n(.*?)^## ", re.MULTILINE | re.DOTALL)
BLOCK = re.compile(r"```python\n# (?P<path>[\w./]+)(?P<append> \(append\))?\n(?P<body>.*?)```", re.DOTALL)
DATABASE = "realtime_new_project"

pytestmark = pytest.mark.skipif(
    os.environ.get("REALTIME_SKIP_NEW_PROJECT") == "1", reason="REALTIME_SKIP_NEW_PROJECT=1"
)


def readme_files() -> list[tuple[str, bool, str]]:
    """(path, append?, text) of each file-named code block of the README section."""
    match = SECTION.search((ROOT / "README.md").read_text())
    assert match, "README.md has no '## Add it to your project' section"
    blocks = [(m["path"], bool(m["append"]), m["body"]) for m in BLOCK.finditer(match.group(1))]
    assert blocks, "the section has no file-named code blocks"
    return blocks


def run(*args: str | pathlib.Path, cwd: pathlib.Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, "%s failed:\n%s\n%s" % (args, done.stdout[-3000:], done.stderr[-3000:])
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A fresh virtualenv with the built wheel and its ``[daphne]`` extra, pinned as the project pins them."""
    where = tmp_path_factory.mktemp("new-project")
    wheels = where / "wheels"
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", wheels, ROOT, cwd=where)
    (wheel,) = wheels.glob("*.whl")
    run(sys.executable, "-m", "venv", where / "venv", cwd=where)
    pip = where / "venv" / "bin" / "pip"
    # The project's pins as constraints (pip's constraints take no extras).
    constraints = where / "constraints.txt"
    pins = (ROOT / "requirements.txt").read_text()
    constraints.write_text(re.sub(r"\[[\w,]+\]", "", pins))
    args = ["install", "--quiet", "--disable-pip-version-check", "-c", constraints]
    # The server extra, as README says to install it: daphne, and whitenoise for realtime.js.
    run(pip, *args, "%s[daphne]" % wheel, "psycopg[binary]", cwd=where)
    return where


@pytest.fixture(scope="module")
def database_settings() -> Iterator[dict[str, str]]:
    """A database of its own on the server the suite uses."""
    params = conninfo.conninfo_to_dict(connection.django_conninfo())
    admin = conninfo.make_conninfo(**{**params, "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    yield {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE,
        "USER": str(params.get("user", "")),
        "PASSWORD": str(params.get("password", "")),
        "HOST": str(params.get("host", "")),
        "PORT": str(params.get("port", "")),
    }
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


@pytest.fixture(scope="module")
def project(venv: pathlib.Path, database_settings: dict[str, str]) -> pathlib.Path:
    """``startproject mysite`` + ``startapp notes``, then the README's blocks, then migrate."""
    bin_dir = venv / "venv" / "bin"
    run(bin_dir / "django-admin", "startproject", "mysite", venv, cwd=venv)
    run(bin_dir / "python", "manage.py", "startapp", "notes", cwd=venv)
    for path, append, body in readme_files():
        target = venv / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a" if append else "w") as out:
            out.write(("\n" if append else "") + body)
    with (venv / "mysite" / "settings.py").open("a") as out:
        out.write("\nDATABASES = {'default': %r}\n" % database_settings)
    manage(venv, "makemigrations", "notes")
    manage(venv, "migrate", "--noinput")
    return venv


def manage(project: pathlib.Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    return run(project / "venv" / "bin" / "python", "manage.py", *args, cwd=project, env=env)


def shell(project: pathlib.Path, code: str) -> str:
    return manage(project, "shell", "-c", code).strip()


def login(project: pathlib.Path, username: str) -> tuple[int, str]:
    """(user id, session cookie value) of a new user, logged in as a browser would be."""
    out = shell(
        project,
        "from django.contrib.auth.models import User; from django.test import Client;"
        "u = User.objects.create_user(%r, password='pw'); c = Client(); c.force_login(u);"
        "print(u.pk, c.cookies['sessionid'].value)" % username,
    )
    user_id, cookie = out.splitlines()[-1].split()
    return int(user_id), cookie


@pytest.fixture(scope="module")
def server(project: pathlib.Path) -> Iterator[str]:
    port = servers.free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    process = subprocess.Popen(
        [
            project / "venv" / "bin" / "python",
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "mysite.asgi:application",
        ],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "daphne exited with %s" % process.returncode
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the new project's server did not come up"
            time.sleep(0.2)
        yield "127.0.0.1:%d" % port
    finally:
        process.terminate()
        process.wait(10)


async def open_socket(host: str, path: str, cookie: str) -> websockets.ClientConnection:
    return await websockets.connect(
        "ws://%s%s" % (host, path),
        additional_headers={"Cookie": "sessionid=" + cookie},
        origin=websockets.Origin("http://" + host),
    )


async def next_frame(socket: websockets.ClientConnection) -> dict[str, object]:
    frame = json.loads(await asyncio.wait_for(socket.recv(), 20))
    assert isinstance(frame, dict)
    return frame


async def test_a_new_project_publishes_its_own_model(project: pathlib.Path, server: str) -> None:
    ann_id, ann_cookie = login(project, "ann")
    _, bob_cookie = login(project, "bob")

    async with await open_socket(server, "/ws/notes/%d" % ann_id, bob_cookie) as refused:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(refused.recv(), 20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

    async with await open_socket(server, "/ws/notes/%d" % ann_id, ann_cookie) as socket:
        shell(
            project,
            "from notes.models import Note; Note.objects.create(owner_id=%d, text='by the ORM')" % ann_id,
        )
        created = await next_frame(socket)
        shell(
            project,
            "from notes.models import Note; Note.objects.filter(owner_id=%d).update(text='by update')"
            % ann_id,
        )
        updated = await next_frame(socket)
        with psycopg.connect(conninfo.make_conninfo(connection.django_conninfo(), dbname=DATABASE)) as conn:
            conn.execute("INSERT INTO notes_note (owner_id, text) VALUES (%s, 'by raw SQL')", [ann_id])
        raw = await next_frame(socket)

    assert [f["type"] for f in (created, updated, raw)] == ["note_saved"] * 3
    texts = [f["kwargs"]["text"] for f in (created, updated, raw)]  # type: ignore[index]
    assert texts == ["by the ORM", "by update", "by raw SQL"]
    assert all(isinstance(f["cursor"], str) and f["cursor"] for f in (created, updated, raw))


def test_the_client_loads_from_the_url_the_tag_renders(project: pathlib.Path, server: str) -> None:
    rendered = shell(
        project,
        "from django.template import engines;"
        "print(engines['django'].from_string('{% load realtime %}{% realtime_script %}').render({}))",
    )
    match = re.search(r'<script type="importmap">(?P<json>.*)</script>', rendered)
    assert match, "no import map in %r" % rendered
    url = json.loads(match["json"])["imports"]["listener/realtime.js"]
    with urllib.request.urlopen("http://%s%s" % (server, url), timeout=10) as response:
        assert response.status == 200
        assert "export function subscribe(" in response.read().decode()
