// The room's message list: live frames, the sender's edit and delete, and older history on demand.
//
// Every change shows through the room's frames, the author's own included: a successful edit or
// delete only waits for its chat_message_updated / chat_message_deleted frame. History pages are
// keyset pages strictly older than the oldest shown message; where a page and the frames disagree
// (a change committed after the page's cursor), the frames win.
import { postForm, shortTime } from "./sockets.js";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Microseconds since the epoch: Date keeps milliseconds only, Postgres keeps microseconds, and
// the page and the frames may spell the same instant in different time zones.
function postedKey(iso) {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(iso || "");
  if (!match) return 0;
  const micros = Number((match[2] || "").padEnd(6, "0").slice(0, 6));
  return Date.parse(match[1] + match[3]) * 1000 + micros;
}

function sortsAfter(a, b) {
  const [ka, kb] = [postedKey(a.dataset.posted), postedKey(b.dataset.posted)];
  return ka !== kb ? ka > kb : Number(a.dataset.messageId) > Number(b.dataset.messageId);
}

/**
 * Wire up the list. `main` carries data-room, data-me and data-owner; returns the frame handlers
 * for chat_message_created, chat_message_updated and chat_message_deleted.
 */
export function messageList({ main, list, scroller, empty, older, csrfToken }) {
  const me = main.dataset.me;
  const roomUrl = `/rooms/${main.dataset.room}/messages/`;
  // Frames about messages not on the page (older than the oldest shown): the latest state of each,
  // null once deleted, applied when an older page brings them in.
  const offPage = new Map();
  const loadButton = older.querySelector("button");
  const olderError = older.querySelector(".error");

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function scrollToEnd(force) {
    if (force || nearBottom()) scroller.scrollTop = scroller.scrollHeight;
  }

  function item(id) {
    return list.querySelector(`li[data-message-id="${CSS.escape(id)}"]`);
  }

  function actionForm(id, action, label) {
    const form = el("form", `inline message-${action}`);
    form.method = "post";
    form.action = `${roomUrl}${id}/${action}/`;
    const token = el("input");
    Object.assign(token, { type: "hidden", name: "csrfmiddlewaretoken", value: csrfToken() });
    const button = el("button", "link", label);
    button.type = "submit";
    form.append(token, button);
    return form;
  }

  function actions(id, senderId) {
    const span = el("span", "message-actions");
    if (senderId === me) {
      const edit = el("button", "link edit", "Edit");
      edit.type = "button";
      span.append(edit);
    }
    if (senderId === me || main.dataset.owner === me) span.append(actionForm(id, "delete", "Delete"));
    return span;
  }

  function fill(node, kwargs) {
    node.dataset.messageId = kwargs.id;
    node.dataset.senderId = kwargs.sender.id;
    node.dataset.posted = kwargs.posted;
    node.replaceChildren(
      el("span", "sender", kwargs.sender.username),
      Object.assign(el("time", "", shortTime(kwargs.posted)), { dateTime: kwargs.posted }),
      actions(kwargs.id, kwargs.sender.id),
      el("p", "text", kwargs.message),
    );
  }

  // In (posted, id) order, searching from the end: live messages almost always go last.
  function place(node) {
    let next = null;
    for (let other = list.lastElementChild; other; other = other.previousElementSibling) {
      if (other === node) continue;
      if (!sortsAfter(other, node)) break;
      next = other;
    }
    if (node.nextElementSibling !== next || node.parentNode !== list) list.insertBefore(node, next);
  }

  function show(kwargs) {
    let node = item(kwargs.id);
    const moved = !node || node.dataset.posted !== kwargs.posted;
    node = node || el("li");
    fill(node, kwargs);
    if (moved) place(node);
    empty.hidden = true;
    return node;
  }

  function created(kwargs) {
    const stick = nearBottom();
    offPage.delete(kwargs.id);
    show(kwargs);
    if (stick || kwargs.sender.id === me) scrollToEnd(true);
  }

  function updated(kwargs) {
    // A message older than the shown ones stays off the page until its history page is loaded.
    if (!item(kwargs.id) && older.dataset.before) offPage.set(kwargs.id, kwargs);
    else show(kwargs);
  }

  function deleted(kwargs) {
    const node = item(kwargs.id);
    if (node) node.remove();
    else offPage.set(kwargs.id, null);
    empty.hidden = list.children.length > 0 || Boolean(older.dataset.before);
  }

  function fail(node, text) {
    let error = node.querySelector(":scope > .error");
    if (!error) {
      error = el("p", "error");
      error.setAttribute("role", "alert");
      node.append(error);
    }
    error.textContent = text;
  }

  function startEdit(node) {
    if (node.querySelector("form.editor")) return;
    const text = node.querySelector(".text");
    const editor = el("form", "editor");
    editor.action = `${roomUrl}${node.dataset.messageId}/edit/`;
    const input = el("input");
    Object.assign(input, { type: "text", name: "message", value: text.textContent, required: true });
    input.maxLength = 200;
    input.autocomplete = "off";
    input.setAttribute("aria-label", "Edit message");
    const token = el("input");
    Object.assign(token, { type: "hidden", name: "csrfmiddlewaretoken", value: csrfToken() });
    const save = el("button", "", "Save");
    save.type = "submit";
    const cancel = el("button", "secondary cancel", "Cancel");
    cancel.type = "button";
    editor.append(token, input, save, cancel);
    text.hidden = true;
    node.querySelector(".message-actions").hidden = true;
    node.querySelector(":scope > .error")?.remove();
    text.after(editor);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  function stopEdit(node) {
    node.querySelector("form.editor")?.remove();
    node.querySelector(":scope > .error")?.remove();
    node.querySelector(".text").hidden = false;
    node.querySelector(".message-actions").hidden = false;
  }

  async function save(editor) {
    const node = editor.closest("li");
    const data = new FormData(editor);
    data.set("message", data.get("message").trim());
    for (const control of editor.elements) control.disabled = true;
    let answer;
    try {
      answer = await postForm(editor, data);
    } catch {
      answer = { ok: false, body: { message: "Could not reach the server; the message was not changed." } };
    }
    if (!editor.isConnected) return; // its frame has already redrawn the message.
    if (answer.ok && answer.body.changed === false) stopEdit(node);
    else if (answer.ok) editor.querySelector("button[type=submit]").textContent = "Saving…"; // until the frame.
    else {
      for (const control of editor.elements) control.disabled = false;
      fail(node, answer.body.message || "Could not save the message.");
    }
  }

  async function remove(form) {
    const node = form.closest("li");
    if (!window.confirm("Delete this message for everyone?")) return;
    const button = form.querySelector("button");
    button.disabled = true;
    let answer;
    try {
      answer = await postForm(form);
    } catch {
      answer = { ok: false, body: { message: "Could not reach the server; the message was not deleted." } };
    }
    // On success the message leaves when its chat_message_deleted frame arrives, on every page.
    if (!answer.ok && node.isConnected) {
      button.disabled = false;
      fail(node, answer.body.message || "Could not delete the message.");
    }
  }

  async function loadOlder() {
    const before = older.dataset.before;
    if (!before || loadButton.disabled) return;
    loadButton.disabled = true;
    olderError.hidden = true;
    try {
      const response = await fetch(`${older.dataset.url}?before=${encodeURIComponent(before)}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => ({ message: `The server answered ${response.status}.` }));
      if (!response.ok) throw new Error(body.message || `The server answered ${response.status}.`);
      // Keep the messages in view where they are while older ones go in above them.
      const fromBottom = scroller.scrollHeight - scroller.scrollTop;
      for (const message of body.messages) {
        if (item(message.id)) continue; // a frame brought it already; frames are newer.
        const latest = offPage.has(message.id) ? offPage.get(message.id) : message;
        if (latest) show(latest);
      }
      older.dataset.before = body.before || "";
      older.hidden = !body.before;
      empty.hidden = list.children.length > 0 || Boolean(body.before);
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
    } catch (error) {
      olderError.textContent = `Could not load older messages: ${error.message}`;
      olderError.hidden = false;
    } finally {
      loadButton.disabled = false;
    }
  }

  list.addEventListener("submit", (event) => {
    const form = event.target;
    const node = form.closest("li");
    if (!node) return;
    event.preventDefault();
    if (form.classList.contains("message-delete")) remove(form);
    else if (form.classList.contains("editor")) save(form);
  });
  list.addEventListener("click", (event) => {
    if (event.target.closest("button.edit")) startEdit(event.target.closest("li"));
    else if (event.target.closest("button.cancel")) stopEdit(event.target.closest("li"));
  });
  list.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && event.target.closest("form.editor")) stopEdit(event.target.closest("li"));
  });
  loadButton.addEventListener("click", loadOlder);

  // The server renders the messages; the controls come from the same code as a live message's.
  for (const node of list.children) {
    const time = node.querySelector("time");
    time.textContent = shortTime(time.dateTime);
    time.after(actions(node.dataset.messageId, node.dataset.senderId));
  }
  scrollToEnd(true);

  return { created, updated, deleted, scrollToEnd };
}
