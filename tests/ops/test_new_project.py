"""The manual's tutorial (docs/tutorial.md), followed literally, in a project that has nothing of chat.

The library is built as a wheel and installed in a fresh virtualenv; ``django-admin startproject``
makes a project, ``startapp`` an app, and every code block of the tutorial whose first line names a
file (``# kanban/models.py``, ``<!-- kanban/templates/kanban/board.html -->``) is written (or
appended, ``(append)``) there. The project migrates on a real Postgres, serves with daphne, its
board page renders with a cursor and loads realtime.js, and a WebSocket client resuming from that
cursor receives the frames of an ORM save, a ``QuerySet.update()`` and a raw SQL update moving the
card; a user who is not a member is refused. The tutorial's live board (its last step) renders a
live region, and its socket sends the Turbo Stream elements that move the card.
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
import urllib.parse
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest
import websockets
from psycopg import conninfo, sql

from listener import connection
from tests import servers

ROOT = pathlib.Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(
    r"```(?:python|html)\n(?:# |<!-- )(?P<path>[\w./]+)(?P<append> \(append\))?(?: -->)?\n(?P<body>.*?)```",
    re.DOTALL,
)
DATABASE = "realtime_new_project"

pytestmark = pytest.mark.skipif(
    os.environ.get("REALTIME_SKIP_NEW_PROJECT") == "1", reason="REALTIME_SKIP_NEW_PROJECT=1"
)


def tutorial_files() -> list[tuple[str, bool, str]]:
    """(path, append?, text) of each file-named code block of the tutorial."""
    blocks = [(m["path"], bool(m["append"]), m["body"]) for m in BLOCK.finditer(TUTORIAL.read_text())]
    assert blocks, "docs/tutorial.md has no file-named code blocks"
    return blocks


def run(*args: str | pathlib.Path, cwd: pathlib.Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, "%s failed:\n%s\n%s" % (args, done.stdout[-3000:], done.stderr[-3000:])
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A fresh virtualenv with the built wheel and a server, pinned as the project pins them."""
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
    run(pip, *args, wheel, "daphne", "psycopg[binary]", cwd=where)
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
    """``startproject mysite`` + ``startapp kanban``, then the tutorial's blocks, then migrate."""
    bin_dir = venv / "venv" / "bin"
    run(bin_dir / "django-admin", "startproject", "mysite", venv, cwd=venv)
    run(bin_dir / "python", "manage.py", "startapp", "kanban", cwd=venv)
    for path, append, body in tutorial_files():
        target = venv / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a" if append else "w") as out:
            out.write(("\n" if append else "") + body)
    with (venv / "mysite" / "settings.py").open("a") as out:
        out.write("\nDATABASES = {'default': %r}\n" % database_settings)
    manage(venv, "makemigrations", "kanban")
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


def get(server: str, path: str, cookie: str) -> tuple[int, str]:
    request = urllib.request.Request(
        "http://%s%s" % (server, path), headers={"Cookie": "sessionid=" + cookie}
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, response.read().decode()


async def test_the_tutorial_board_moves_a_card_live(project: pathlib.Path, server: str) -> None:
    ann_id, ann_cookie = login(project, "ann")
    _, bob_cookie = login(project, "bob")
    board_id = int(
        shell(
            project,
            "from kanban.models import Board; print(Board.objects.create(title='Launch', owner_id=%d).pk)"
            % ann_id,
        ).splitlines()[-1]
    )

    status, page = get(server, "/boards/%d/" % board_id, ann_cookie)
    cursor = re.search(r'data-cursor="([^"]+)"', page)
    assert status == 200 and cursor, page[:2000]
    assert "listener/realtime.js" in page
    status, script = get(server, "/static/listener/realtime.js", ann_cookie)
    assert status == 200 and "export function subscribe" in script

    async with await open_socket(server, "/ws/boards/%d" % board_id, bob_cookie) as refused:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(refused.recv(), 20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

    # The card is created before the socket opens: the cursor from the page brings it.
    card_id = shell(
        project,
        "from kanban.models import Card; print(Card.objects.create(board_id=%d, title='Write the manual').pk)"
        % board_id,
    ).splitlines()[-1]
    path = "/ws/boards/%d?cursor=%s" % (board_id, urllib.parse.quote(cursor.group(1)))
    async with await open_socket(server, path, ann_cookie) as socket:
        created = await next_frame(socket)
        shell(
            project,
            "from kanban.models import Card; Card.objects.filter(pk=%s).update(lane='doing')" % card_id,
        )
        by_update = await next_frame(socket)
        with psycopg.connect(conninfo.make_conninfo(connection.django_conninfo(), dbname=DATABASE)) as conn:
            conn.execute("UPDATE kanban_card SET lane = 'done' WHERE id = %s", [int(card_id)])
        by_sql = await next_frame(socket)

    frames = (created, by_update, by_sql)
    assert [f["type"] for f in frames] == ["card_saved"] * 3
    kwargs = [f["kwargs"] for f in frames]
    assert [(k["id"], k["lane"]) for k in kwargs] == [
        (card_id, "todo"),
        (card_id, "doing"),
        (card_id, "done"),
    ]  # type: ignore[index]
    assert all(isinstance(f["cursor"], str) and f["cursor"] for f in frames)


async def test_the_tutorial_live_board_moves_a_card_with_no_script_of_its_own(
    project: pathlib.Path, server: str
) -> None:
    owner_id, cookie = login(project, "cat")
    board_id = int(
        shell(
            project,
            "from kanban.models import Board; print(Board.objects.create(title='Live', owner_id=%d).pk)"
            % owner_id,
        ).splitlines()[-1]
    )
    status, page = get(server, "/boards/%d/live/" % board_id, cookie)
    region = re.search(r'data-live="board" data-socket="(/ws/boards/\d+)" data-cursor="([^"]+)"', page)
    assert status == 200 and region, page[:2000]
    assert "listener/live.js" in page and '<script type="module">' not in page
    status, script = get(server, "/static/listener/live.js", cookie)
    assert status == 200 and "renderStreamMessage" in script

    # Created between the render and the socket: the region's cursor brings it, once.
    card_id = shell(
        project,
        "from kanban.models import Card; print(Card.objects.create(board_id=%d, title='Go live').pk)"
        % board_id,
    ).splitlines()[-1]
    path = "%s?live=board&cursor=%s" % (region.group(1), urllib.parse.quote(region.group(2)))
    async with await open_socket(server, path, cookie) as socket:
        created = await asyncio.wait_for(socket.recv(), 20)
        with psycopg.connect(conninfo.make_conninfo(connection.django_conninfo(), dbname=DATABASE)) as conn:
            conn.execute("UPDATE kanban_card SET lane = 'done' WHERE id = %s", [int(card_id)])
        moved = await asyncio.wait_for(socket.recv(), 20)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(socket.recv(), 0.5)
    card = '<li id="card-%s">Go live</li>' % card_id
    assert 'action="remove" target="card-%s"' % card_id in created
    assert 'action="update" target="lane-todo"><template>%s</template>' % card in created
    assert 'action="remove" target="card-%s"' % card_id in moved
    assert 'action="update" target="lane-done"><template>%s</template>' % card in moved


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1280])
async def test_the_tutorial_live_board_in_chromium(project: pathlib.Path, server: str, width: int) -> None:
    """Moved from SQL, the card changes lanes on the page: the library's client, no script of the page's."""
    from playwright import async_api

    from tests.browser import conftest as browser_conftest

    if not os.path.exists(browser_conftest.CHROMIUM):
        pytest.skip("%s is missing" % browser_conftest.CHROMIUM)
    owner_id, cookie = login(project, "dee%d" % width)
    made = shell(
        project,
        "from kanban.models import Board, Card; b = Board.objects.create(title='Wide', owner_id=%d);"
        "print(b.pk, Card.objects.create(board=b, title='Ship it').pk)" % owner_id,
    )
    board_id, card_id = made.splitlines()[-1].split()
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=browser_conftest.CHROMIUM, args=browser_conftest.CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport={"width": width, "height": 800})
            await context.add_cookies([{"name": "sessionid", "value": cookie, "url": "http://" + server}])
            page = await context.new_page()
            await page.goto("http://%s/boards/%s/live/" % (server, board_id))
            expect = async_api.expect
            await expect(page.locator("[data-live-status]")).to_have_attribute(
                "data-state", "live", timeout=8000
            )
            await expect(page.locator("#lane-todo li")).to_have_text(["Ship it"])
            with psycopg.connect(
                conninfo.make_conninfo(connection.django_conninfo(), dbname=DATABASE)
            ) as conn:
                conn.execute("UPDATE kanban_card SET lane = 'done' WHERE id = %s", [int(card_id)])
            await expect(page.locator("#lane-done li")).to_have_text(["Ship it"], timeout=8000)
            await expect(page.locator("#lane-todo li")).to_have_count(0)
            assert await page.locator("#card-%s" % card_id).count() == 1
        finally:
            await browser.close()
