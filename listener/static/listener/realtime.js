// One live topic over a WebSocket: resumes from the last handled frame's cursor, retries with
// capped exponential backoff and full jitter, and stops for good when the server says why.

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
// A socket that stayed open this long counts as healthy: the next failure starts the backoff over.
const HEALTHY_AFTER_MS = 5000;
const SEEN_LIMIT = 1000;
// Reloads the server asked for (resync_required, 4410, 4400) back off per tab: the first is
// immediate, then 1 s, 2 s, 4 s... up to a minute, so a server that keeps answering 4410 cannot
// put every tab into a reload loop. A socket that stays open HEALTHY_AFTER_MS clears the count.
const RELOADS_KEY = "listener.reloads";
const RELOAD_BASE_MS = 1000;
const RELOAD_MAX_MS = 60000;

// Close codes (the manual: docs/reference/close-codes.md).
const NOT_LOGGED_IN = 4401;
const FORBIDDEN = 4403;
const NOT_FOUND = 4404;
const BAD_CURSOR = 4400;
const RESYNC_REQUIRED = 4410;
// 4500 (delivery failed on the server) and 4008/4503 are resumable: retried like any other code.

/**
 * The users a did_alter_presence frame's kwargs say joined and left, whichever form it has:
 * `join` / `leave` (one user) or `sync` (several changes of one batch window).
 * Returns { joined: [user], left: [user] }; apply `left` first, then `joined`.
 */
export function presenceChanges(kwargs) {
  if (kwargs.action === "sync") return { joined: kwargs.joined || [], left: kwargs.left || [] };
  if (kwargs.action === "join") return { joined: [kwargs.user], left: [] };
  if (kwargs.action === "leave") return { joined: [], left: [kwargs.user] };
  console.info("live: unknown presence action %s", kwargs.action);
  return { joined: [], left: [] };
}

/**
 * Subscribe to `path` (e.g. "/ws/room/3") from `cursor` (the page's data-cursor).
 * `handlers` maps frame types to functions of (kwargs, frame).
 * `onState(state, detail)` hears "connecting" | "live" | "reconnecting" | "offline" | "stopped" |
 * "reloading" (detail.delay: milliseconds until the page reloads).
 * `parse(text)` turns a frame's text into { type, kwargs, cursor } (default: JSON.parse); a
 * frame it cannot read is ignored.
 * Returns { close() }.
 */
export function subscribe({ path, cursor, handlers, onState = () => {}, onStop = () => {}, parse = JSON.parse }) {
  let lastCursor = cursor || "";
  const seen = new Set();
  let socket = null;
  let attempt = 0;
  let openedAt = 0;
  let retryTimer = null;
  let stopped = false;

  function url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = lastCursor ? (path.includes("?") ? "&" : "?") + "cursor=" + encodeURIComponent(lastCursor) : "";
    return scheme + "//" + location.host + path + query;
  }

  function open() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (stopped || socket) return;
    onState(attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(url());
    socket = ws;
    let healthyTimer = null;
    ws.addEventListener("open", () => {
      openedAt = Date.now();
      healthyTimer = setTimeout(forgetReloads, HEALTHY_AFTER_MS);
      onState("live");
    });
    ws.addEventListener("message", (event) => receive(event.data));
    ws.addEventListener("close", (event) => {
      clearTimeout(healthyTimer);
      if (socket === ws) socket = null;
      closed(event.code, event.reason);
    });
  }

  function receive(data) {
    let frame;
    try {
      frame = data.startsWith("{") ? JSON.parse(data) : parse(data);
    } catch (error) {
      console.warn("live: ignoring a frame it cannot read", error);
      return;
    }
    if (frame.cursor) {
      // Each frame has its own cursor, so a repeated cursor is a repeated frame.
      if (seen.has(frame.cursor)) return;
      seen.add(frame.cursor);
      if (seen.size > SEEN_LIMIT) seen.delete(seen.values().next().value);
    }
    if (frame.type === "resync_required") {
      reloadSoon(frame.kwargs && frame.kwargs.reason);
      return;
    }
    if (frame.type === "event_too_large" && !handlers.event_too_large) {
      // An event the server could not send (over its message limit): the page's data misses
      // it, so a fresh render shows it; resuming from before it would only get this again.
      stop("resync", "an event was too large to send");
      location.reload();
      return;
    }
    const handler = handlers[frame.type];
    if (handler) {
      try {
        handler(frame.kwargs || {}, frame);
      } catch (error) {
        console.error("live: handler for %s failed", frame.type, error);
      }
    } else {
      console.info("live: no handler for frame type %s", frame.type);
    }
    // Only a handled frame moves the cursor: a reconnect replays anything after it.
    if (frame.cursor) lastCursor = frame.cursor;
  }

  function closed(code, reason) {
    if (stopped) return;
    if (code === NOT_LOGGED_IN) {
      stop("logged-out", reason);
      location.assign("/accounts/login/?next=" + encodeURIComponent(location.pathname));
      return;
    }
    if (code === FORBIDDEN || code === NOT_FOUND) {
      stop(code === FORBIDDEN ? "forbidden" : "gone", reason);
      return;
    }
    if (code === RESYNC_REQUIRED || code === BAD_CURSOR) {
      // The page's data is older than the log keeps: a fresh render brings a fresh cursor.
      reloadSoon(reason);
      return;
    }
    if (openedAt && Date.now() - openedAt > HEALTHY_AFTER_MS) attempt = 0;
    openedAt = 0;
    scheduleRetry();
  }

  function scheduleRetry() {
    if (!navigator.onLine) {
      onState("offline");
      return; // the "online" event reopens.
    }
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
    attempt += 1;
    const delay = Math.random() * ceiling;
    onState("reconnecting", { delay });
    retryTimer = setTimeout(open, delay);
  }

  function retryNow() {
    if (stopped || socket) return;
    attempt = 0;
    open();
  }

  function reloadSoon(reason) {
    if (stopped) return;
    const count = readReloads();
    const delay = count === 0 ? 0 : Math.min(RELOAD_MAX_MS, RELOAD_BASE_MS * 2 ** (count - 1));
    writeReloads(count + 1);
    stop("resync", reason);
    onState("reloading", { delay });
    setTimeout(() => location.reload(), delay);
  }

  function stop(why, reason) {
    stopped = true;
    clearTimeout(retryTimer);
    onState("stopped", { why, reason });
    onStop(why, reason);
  }

  function readReloads() {
    try {
      return Number.parseInt(sessionStorage.getItem(RELOADS_KEY) || "0", 10) || 0;
    } catch (error) {
      return 0; // storage disabled: no memory across reloads, the first delay applies.
    }
  }

  function writeReloads(count) {
    try {
      sessionStorage.setItem(RELOADS_KEY, String(count));
    } catch (error) {
      console.warn("live: cannot remember reloads", error);
    }
  }

  function forgetReloads() {
    try {
      sessionStorage.removeItem(RELOADS_KEY);
    } catch (error) {
      // storage disabled: nothing remembered.
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") retryNow();
  });
  window.addEventListener("online", retryNow);
  window.addEventListener("offline", () => {
    if (!stopped && !socket) onState("offline");
  });
  window.addEventListener("pagehide", (event) => {
    if (!event.persisted) {
      stopped = true;
      if (socket) socket.close(1000);
    }
  });
  window.addEventListener("pageshow", (event) => {
    // Back from the back/forward cache: the page's data is stale.
    if (event.persisted) location.reload();
  });

  open();
  return {
    close() {
      stopped = true;
      if (socket) socket.close(1000);
    },
  };
}

