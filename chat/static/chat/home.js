// The home page: my join requests change status live; an admitted one adds the room link; a
// deleted one leaves the list. Rooms I create, join or leave, and rooms renamed or deleted,
// appear, change and go live (did_alter_room on my user topic).
import { showState, subscribe } from "./sockets.js";

const main = document.getElementById("main");
const requests = document.getElementById("join-requests");
const joined = document.getElementById("joined-rooms");
const owned = document.getElementById("owned-rooms");
const EMPTY = { "owned-rooms": "None yet. Create one below.", "joined-rooms": "None yet. Ask an owner for a join code." };
const indicator = document.getElementById("connection");
const gone = document.getElementById("gone");

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function requestItem(kwargs) {
  let item = requests.querySelector(`li[data-request="${CSS.escape(kwargs.id)}"]`);
  if (!item) {
    requests.querySelector("li.empty")?.remove();
    item = el("li");
    item.dataset.request = kwargs.id;
    item.append(el("span", "title", kwargs.room.title), el("span", "status"));
    requests.prepend(item);
  }
  return item;
}

function dropRequest(id) {
  requests.querySelector(`li[data-request="${CSS.escape(id)}"]`)?.remove();
  if (!requests.querySelector("li")) requests.append(el("li", "empty", "No requests."));
}

function setStatus(item, status) {
  item.dataset.status = status;
  const badge = item.querySelector(".status");
  badge.className = "status status-" + status;
  badge.textContent = status;
}

function roomItems(id) {
  return document.querySelectorAll(`.rooms li[data-room="${CSS.escape(id)}"]`);
}

function addRoomLink(room, list = joined) {
  if (list.querySelector(`li[data-room="${CSS.escape(room.id)}"]`)) return;
  list.querySelector("li.empty")?.remove();
  const item = el("li");
  item.dataset.room = room.id;
  const link = el("a", "", room.title);
  link.href = `/rooms/${encodeURIComponent(room.id)}/`;
  item.append(link);
  if (room.join_code) {
    const code = el("span", "code", "join code ");
    code.append(el("code", "", room.join_code));
    item.append(" ", code);
  }
  list.append(item);
}

function dropRoom(id, lists = [owned, joined]) {
  for (const item of [...roomItems(id)].filter((li) => lists.includes(li.parentElement))) {
    const list = item.parentElement;
    item.remove();
    if (!list.querySelector("li")) list.append(el("li", "empty", EMPTY[list.id]));
  }
}

const roomChanges = {
  create: (kwargs) => addRoomLink(kwargs.room, owned),
  join: (kwargs) => addRoomLink(kwargs.room, joined),
  leave: (kwargs) => dropRoom(kwargs.room.id, [joined]),
  delete: (kwargs) => dropRoom(kwargs.room.id),
  rename(kwargs) {
    for (const item of roomItems(kwargs.room.id)) item.querySelector("a").textContent = kwargs.room.title;
  },
};

subscribe({
  path: main.dataset.socket,
  cursor: main.dataset.cursor,
  handlers: {
    did_alter_join_request(kwargs) {
      if (kwargs.action === "delete") return dropRequest(kwargs.id);
      setStatus(requestItem(kwargs), kwargs.status);
      if (kwargs.action === "admit") addRoomLink(kwargs.room);
    },
    did_alter_room(kwargs) {
      roomChanges[kwargs.action]?.(kwargs);
    },
  },
  onState: (state) => showState(indicator, state),
  onStop(why) {
    if (why === "forbidden" || why === "gone") {
      gone.textContent = "This page is no longer live. Reload to try again.";
      gone.hidden = false;
    }
  },
});
