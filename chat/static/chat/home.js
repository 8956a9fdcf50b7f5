// The home page: my join requests change status live; an admitted one adds the room link; a
// deleted one leaves the list.
import { showState, subscribe } from "./sockets.js";

const main = document.getElementById("main");
const requests = document.getElementById("join-requests");
const joined = document.getElementById("joined-rooms");
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

function addRoomLink(room) {
  if (joined.querySelector(`li[data-room="${CSS.escape(room.id)}"]`)) return;
  joined.querySelector("li.empty")?.remove();
  const item = el("li");
  item.dataset.room = room.id;
  const link = el("a", "", room.title);
  link.href = `/rooms/${encodeURIComponent(room.id)}/`;
  item.append(link);
  joined.append(item);
}

subscribe({
  path: main.dataset.socket,
  cursor: main.dataset.cursor,
  handlers: {
    did_alter_join_request(kwargs) {
      if (kwargs.action === "delete") return dropRequest(kwargs.id);
      setStatus(requestItem(kwargs), kwargs.status);
      if (kwargs.action === "admit") addRoomLink(kwargs.room);
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
