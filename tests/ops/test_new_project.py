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
import dataclasses
import itertools
import json
import os
import pathlib
import re
import subprocess
import sys
import time
import typing
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


@dataclasses.dataclass
class Board:
    """A new user's board on the tutorial's project, and one of its pages as that user saw it."""

    project: pathlib.Path
    id: int
    cookie: str
    page: str
    cursor: str

    def add_card(self, title: str) -> str:
        """A card created by the ORM, as the page's cursor has not seen it: its id."""
        return shell(
            self.project,
            "from kanban.models import Card; print(Card.objects.create(board_id=%d, title=%r).pk)"
            % (self.id, title),
        ).splitlines()[-1]

    def move_by_sql(self, card_id: str, lane: str) -> None:
        with psycopg.connect(conninfo.make_conninfo(connection.django_conninfo(), dbname=DATABASE)) as conn:
            conn.execute("UPDATE kanban_card SET lane = %s WHERE id = %s", [lane, int(card_id)])


_owners = itertools.count(1)


class Step(typing.NamedTuple):
    """One of the tutorial's board pages: where it is, how it carries its cursor, the script it loads."""

    path: str
    cursor: str  # a pattern whose group is the cursor
    script: str
    script_says: str


JSON_STEP = Step("/boards/%d/", r'data-cursor="([^"]+)"', "realtime.js", "export function subscribe")
LIVE_STEP = Step(
    "/boards/%d/live/",
    r'data-live="board" data-socket="/ws/boards/\d+" data-cursor="([^"]+)"',
    "live.js",
    "renderStreamMessage",
)


@pytest.fixture
def board(request: pytest.FixtureRequest, project: pathlib.Path, server: str) -> Board:
    """The set-up both socket steps share: a new user, their board, and the board's page of the
    test's ``Step``, rendered with the cursor a socket resumes from and loading the library's script."""
    path, cursor_pattern, script, script_says = request.param
    owner_id, cookie = login(project, "owner%d" % next(_owners))
    board_id = int(
        shell(
            project,
            "from kanban.models import Board; print(Board.objects.create(title='Launch', owner_id=%d).pk)"
            % owner_id,
        ).splitlines()[-1]
    )
    status, page = get(server, path % board_id, cookie)
    cursor = re.search(cursor_pattern, page)
    assert status == 200 and cursor, page[:2000]
    assert "listener/" + script in page
    status, text = get(server, "/static/listener/" + script, cookie)
    assert status == 200 and script_says in text
    return Board(project, board_id, cookie, page, cursor.group(1))


@pytest.mark.parametrize("board", [JSON_STEP], indirect=True, ids=["json"])
async def test_the_tutorial_board_moves_a_card_live(project: pathlib.Path, server: str, board: Board) -> None:
    _, bob_cookie = login(project, "bob")
    async with await open_socket(server, "/ws/boards/%d" % board.id, bob_cookie) as refused:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(refused.recv(), 20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

    # The card is created before the socket opens: the cursor from the page brings it.
    card_id = board.add_card("Write the manual")
    path = "/ws/boards/%d?cursor=%s" % (board.id, urllib.parse.quote(board.cursor))
    async with await open_socket(server, path, board.cookie) as socket:
        created = await next_frame(socket)
        shell(
            project,
            "from kanban.models import Card; Card.objects.filter(pk=%s).update(lane='doing')" % card_id,
        )
        by_update = await next_frame(socket)
        board.move_by_sql(card_id, "done")
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


@pytest.mark.parametrize("board", [LIVE_STEP], indirect=True, ids=["live"])
async def test_the_tutorial_live_board_moves_a_card_with_no_script_of_its_own(
    server: str, board: Board
) -> None:
    assert '<script type="module">' not in board.page
    assert 'data-live="board" data-socket="/ws/boards/%d"' % board.id in board.page

    # Created between the render and the socket: the region's cursor brings it, once.
    card_id = board.add_card("Go live")
    path = "/ws/boards/%d?live=board&cursor=%s" % (board.id, urllib.parse.quote(board.cursor))
    async with await open_socket(server, path, board.cookie) as socket:
        created = await asyncio.wait_for(socket.recv(), 20)
        board.move_by_sql(card_id, "done")
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
