// The room page: messages, members and (for the owner) the waiting list, kept live.
import { messageList } from "./messages.js";
import { postForm, presenceChanges, showState, subscribe } from "./sockets.js";

const main = document.getElementById("main");
const roomId = main.dataset.room;
const list = document.getElementById("messages");
const noMessages = document.getElementById("no-messages");
const members = document.getElementById("members");
const waiting = document.getElementById("waiting");
const noWaiting = document.getElementById("no-waiting");
const form = document.getElementById("post-form");
const input = form.querySelector("input[name=message]");
const postError = document.getElementById("post-error");
const indicator = document.getElementById("connection");
const gone = document.getElementById("gone");

const chatMessages = messageList({
  main,
  list,
  scroller: document.getElementById("scroller"),
  empty: noMessages,
  older: document.getElementById("older"),
  csrfToken: () => form.querySelector("input[name=csrfmiddlewaretoken]").value,
});

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function memberItem(id) {
  return members.querySelector(`li[data-user-id="${CSS.escape(id)}"]`);
}

// Who is online: rendered from the page's snapshot, then kept by did_alter_presence frames.
const online = new Set([...members.querySelectorAll("li[data-online=true]")].map((li) => li.dataset.userId));

function showPresence(id) {
  const item = memberItem(id);
  if (!item) return;
  if (online.has(id)) item.dataset.online = "true";
  else delete item.dataset.online;
}

function addMember(user) {
  if (memberItem(user.id)) return;
  const item = el("li", "member");
  item.append(el("span", "name", user.username));
  item.dataset.userId = user.id;
  const after = [...members.querySelectorAll("li.member")].find(
    (li) => li.textContent.localeCompare(user.username) > 0,
  );
  members.insertBefore(item, after || null);
  showPresence(user.id);
}

function removeMember(user) {
  if (memberItem(user.id)?.classList.contains("member")) memberItem(user.id).remove();
}

function decideForm(requestId, decision, label, className) {
  const decide = el("form", "inline decide");
  decide.method = "post";
  decide.action = `/rooms/${roomId}/requests/${requestId}/${decision}/`;
  const token = el("input");
  token.type = "hidden";
  token.name = "csrfmiddlewaretoken";
  token.value = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const button = el("button", className, label);
  button.type = "submit";
  decide.append(token, button);
  return decide;
}

function addWaiting(kwargs) {
  if (!waiting || waiting.querySelector(`li[data-request="${CSS.escape(kwargs.id)}"]`)) return;
  const who = kwargs.requesting_user || { username: "user " + kwargs.user };
  const item = el("li");
  item.dataset.request = kwargs.id;
  const name = el("span", "name", who.username);
  const full = [who.first_name, who.last_name].filter(Boolean).join(" ");
  if (full) name.append(" ", el("small", "", `(${full})`));
  const actions = el("span", "actions");
  actions.append(decideForm(kwargs.id, "admit", "Admit"), decideForm(kwargs.id, "deny", "Deny", "secondary"));
  item.append(name, actions);
  waiting.append(item);
  noWaiting.hidden = true;
}

function removeWaiting(id) {
  if (!waiting) return;
  waiting.querySelector(`li[data-request="${CSS.escape(id)}"]`)?.remove();
  noWaiting.hidden = waiting.children.length > 0;
}

function noAccess(text) {
  gone.textContent = text;
  gone.hidden = false;
  for (const control of form.elements) control.disabled = true;
  for (const control of document.querySelectorAll(".decide button, #messages button, #load-older")) control.disabled = true;
}

const handlers = {
  chat_message_created: chatMessages.created,
  chat_message_updated: chatMessages.updated,
  chat_message_deleted: chatMessages.deleted,
  did_alter_membership(kwargs) {
    if (kwargs.action === "join") addMember(kwargs.user);
    else removeMember(kwargs.user);
  },
  did_alter_presence(kwargs) {
    // One user (join / leave) or a batch window's several (sync): a user is in one list at most.
    const { joined, left } = presenceChanges(kwargs);
    for (const user of left) online.delete(user.id);
    for (const user of joined) online.add(user.id);
    for (const user of [...left, ...joined]) showPresence(user.id);
  },
  did_alter_join_request(kwargs) {
    if (kwargs.action === "create") addWaiting(kwargs);
    else removeWaiting(kwargs.id);
  },
};

subscribe({
  path: main.dataset.socket,
  cursor: main.dataset.cursor,
  handlers,
  onState: (state) => showState(indicator, state),
  onStop(why) {
    if (why === "forbidden") noAccess("You no longer have access to this room.");
    else if (why === "gone") noAccess("This room no longer exists.");
  },
});

// Until this time (ms) the server refuses this page's posts (429): Send waits, the text stays.
let throttledUntil = 0;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || Date.now() < throttledUntil) return;
  const data = new FormData(form);
  data.set("message", text);
  postError.hidden = true;
  const send = form.querySelector("button");
  send.disabled = true;
  let wait = 0;
  try {
    // The message appears when its event arrives, like everyone else's: no optimistic copy.
    const { ok, status, body } = await postForm(form, data);
    if (ok) input.value = "";
    else {
      postError.textContent = body.message || "Could not send.";
      postError.hidden = false;
      if (status === 429) wait = Math.max(1, Number(body.retry_after) || 1);
    }
  } catch {
    postError.textContent = "Could not reach the server; your message was not sent.";
    postError.hidden = false;
  } finally {
    if (wait) {
      throttledUntil = Date.now() + wait * 1000;
      setTimeout(() => {
        send.disabled = false;
        postError.hidden = true;
      }, wait * 1000);
    } else send.disabled = false;
    input.focus();
  }
});

document.addEventListener("submit", async (event) => {
  const decide = event.target;
  if (!decide.classList?.contains("decide")) return;
  event.preventDefault();
  for (const button of decide.closest("li").querySelectorAll("button")) button.disabled = true;
  // The request leaves the list when its admit/deny event arrives, from whichever tab decided.
  const { ok, status } = await postForm(decide).catch(() => ({ ok: false, status: 0 }));
  if (!ok && status !== 409) {
    for (const button of decide.closest("li")?.querySelectorAll("button") ?? []) button.disabled = false;
  }
});

