/*
 * Live notifications for signed-in staff.
 *
 * Opens one websocket to the notifications consumer, shows a toast for every
 * {"type": "notify"} event and reconnects with capped exponential backoff and
 * jitter. document.body.dataset.live is "connecting", "connected" (after the
 * server's hello) or "disconnected"; the top bar's live indicator and the browser
 * tests read it. Every event from the server is also dispatched on document as a
 * "helpdesk:event" CustomEvent (detail: the event; notify events as well as
 * "helpdesk:notify"), for pages that update live. Loaded from a static file
 * only: no inline script, strict CSP.
 *
 * Settings come from the <script> tag's data attributes:
 *   data-socket-path   path of the websocket (default /ws/notifications/)
 *   data-toasts        id of the toast region (default "toasts")
 *   data-dismiss-label accessible name of a toast's close button
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var settings = (script && script.dataset) || {};
  var SOCKET_PATH = settings.socketPath || "/ws/notifications/";
  var TOAST_REGION_ID = settings.toasts || "toasts";
  var DISMISS_LABEL = settings.dismissLabel || "Dismiss";

  var FIRST_RETRY_MS = 1000;
  var MAX_RETRY_MS = 30000;
  var PING_EVERY_MS = 25000; // below common proxy idle timeouts (30-60 s)
  var TOAST_MS = 8000;
  var MAX_TOASTS = 4;
  // Close codes after which reconnecting cannot help: signed out, or refused.
  var FINAL_CLOSE_CODES = [4401, 4403, 1008];

  var socket = null;
  var retryMs = FIRST_RETRY_MS;
  var retryTimer = null;
  var pingTimer = null;

  function setLive(state) {
    document.body.dataset.live = state;
  }

  function socketUrl() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + SOCKET_PATH;
  }

  function toastRegion() {
    var region = document.getElementById(TOAST_REGION_ID);
    if (!region) {
      region = document.createElement("div");
      region.id = TOAST_REGION_ID;
      region.className = "toasts";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      document.body.appendChild(region);
    }
    return region;
  }

  function dismiss(toast) {
    if (toast.parentNode) {
      toast.parentNode.removeChild(toast);
    }
  }

  function showToast(event) {
    var region = toastRegion();
    var toast = document.createElement("div");
    toast.className = "toast";
    if (event.kind) {
      toast.dataset.kind = String(event.kind);
    }

    var text = document.createElement("p");
    text.className = "toast__text";
    // textContent, never innerHTML: event text may carry customer input.
    text.textContent = String(event.text || "");
    toast.appendChild(text);

    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast__close";
    close.setAttribute("aria-label", DISMISS_LABEL);
    close.textContent = "\u00d7";
    close.addEventListener("click", function () {
      dismiss(toast);
    });
    toast.appendChild(close);

    region.appendChild(toast);
    while (region.children.length > MAX_TOASTS) {
      dismiss(region.firstElementChild);
    }
    window.setTimeout(function () {
      // A toast the user is reading (hovered or focused) stays until they leave.
      if (toast.matches(":hover") || toast.contains(document.activeElement)) {
        toast.addEventListener("mouseleave", function () {
          dismiss(toast);
        });
        toast.addEventListener("focusout", function () {
          dismiss(toast);
        });
        return;
      }
      dismiss(toast);
    }, TOAST_MS);
  }

  function stopPing() {
    if (pingTimer !== null) {
      window.clearInterval(pingTimer);
      pingTimer = null;
    }
  }

  function startPing() {
    stopPing();
    pingTimer = window.setInterval(function () {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "ping" }));
      }
    }, PING_EVERY_MS);
  }

  function scheduleReconnect() {
    if (retryTimer !== null) {
      return;
    }
    // Full jitter: many tabs reconnecting after a deploy do not arrive together.
    var delay = Math.round(retryMs / 2 + Math.random() * (retryMs / 2));
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    retryTimer = window.setTimeout(function () {
      retryTimer = null;
      connect();
    }, delay);
  }

  // A page watching a pod other than the user's own (a pod dashboard) names
  // it in data-follow-pod; the server joins its events only if the user may
  // see that pod. Asked again after every hello: a reconnect starts afresh.
  function followWatchedPod() {
    var watcher = document.querySelector("[data-follow-pod]");
    var podId = watcher ? parseInt(watcher.dataset.followPod, 10) : NaN;
    if (!isNaN(podId) && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "follow", pod: podId }));
    }
  }

  function onMessage(message) {
    var event;
    try {
      event = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    if (!event || typeof event !== "object") {
      return;
    }
    if (event.type === "hello") {
      retryMs = FIRST_RETRY_MS;
      setLive("connected");
      followWatchedPod();
    } else if (event.type === "notify") {
      // An event without text is for the page's scripts only (a new message,
      // someone typing): nothing to read, so no empty toast.
      if (event.text) {
        showToast(event);
      }
      document.dispatchEvent(new CustomEvent("helpdesk:notify", { detail: event }));
    }
    // Every event, the hello included (a reconnect may have missed some), for
    // pages that react live: the workspace's queue and ticket page.
    document.dispatchEvent(new CustomEvent("helpdesk:event", { detail: event }));
  }

  function connect() {
    if (socket && socket.readyState <= WebSocket.OPEN) {
      return;
    }
    setLive("connecting");
    try {
      socket = new WebSocket(socketUrl());
    } catch (error) {
      setLive("disconnected");
      scheduleReconnect();
      return;
    }
    socket.addEventListener("open", startPing);
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", function (event) {
      stopPing();
      socket = null;
      setLive("disconnected");
      if (FINAL_CLOSE_CODES.indexOf(event.code) === -1) {
        scheduleReconnect();
      }
    });
  }

  // Back online after a network drop: try at once instead of waiting out backoff.
  window.addEventListener("online", function () {
    if (retryTimer !== null) {
      window.clearTimeout(retryTimer);
      retryTimer = null;
    }
    retryMs = FIRST_RETRY_MS;
    connect();
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", connect);
  } else {
    connect();
  }
})();
