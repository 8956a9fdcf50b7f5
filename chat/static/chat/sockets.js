// The page helpers of the chat: connection indicator, form posts, times. Subscriptions come from
// the library's client, imported by name through the import map that {% realtime_script %} puts in
// every page's <head> (chat/base.html), so it loads from wherever the static files storage keeps it.

export { presenceChanges, subscribe } from "listener/realtime.js";

/** Show a subscription's state in the page's connection indicator. */
export function showState(element, state) {
  const labels = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline", stopped: "Not live" };
  element.dataset.state = state;
  document.dispatchEvent(new CustomEvent("live:state", { detail: state }));
  element.querySelector(".label").textContent = labels[state] || state;
}

/** POST a form with fetch(); resolves to { ok, status, body }. */
export async function postForm(form, data = new FormData(form)) {
  const response = await fetch(form.action, {
    method: "POST",
    body: data,
    headers: { Accept: "application/json", "X-CSRFToken": data.get("csrfmiddlewaretoken") || "" },
    credentials: "same-origin",
  });
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = { message: "The server answered " + response.status + "." };
  }
  return { ok: response.ok, status: response.status, body };
}

/** A local, short time for an ISO timestamp. */
export function shortTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
