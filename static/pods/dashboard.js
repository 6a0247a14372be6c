/*
 * The pod dashboard, live.
 *
 * notifications.js holds the one websocket of the page; it follows the pod named
 * in [data-follow-pod] (the server checks the user may see it) and dispatches
 * every server event on document as "helpdesk:event". Here, an event of the pod
 * that changes what the live panel shows (a ticket created, taken, assigned,
 * solved, reopened or set pending, a message, an SLA breach, an agent's
 * presence, a split) refetches the live panel ([data-live-panel], from its
 * data-refresh-url) and swaps it in place. Events in a burst end in one refetch
 * at most every second; a hidden tab refetches when it is shown again. The time
 * of the last refresh is shown in [data-live-updated] ("Updated {time}", from
 * the root's data-text-updated; data-text-refresh-failed when a refetch fails).
 * Once the server confirms the follow, the root gets data-following="<pod>".
 *
 * Loaded from a static file only: no inline script, no eval (strict CSP).
 */
(function () {
  "use strict";

  if (window.helpdeskDashboard) {
    return;
  }
  window.helpdeskDashboard = true;

  var REFRESH_DELAY_MS = 1000;
  var LIVE_KINDS = /^(ticket\.|message\.created$|sla\.|agent\.presence$|pod\.split\.)/;

  var timer = null;
  var staleWhileHidden = false;
  var lastUpdated = null;
  var connectedOnce = false;

  function root() {
    return document.querySelector("[data-pod-dashboard]");
  }

  function livePanel() {
    return document.querySelector("[data-live-panel]");
  }

  function clock(date) {
    var lang = document.documentElement.lang || undefined;
    try {
      return date.toLocaleTimeString(lang, {
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      });
    } catch (error) {
      return date.toTimeString().slice(0, 8);
    }
  }

  function showStamp(textKey, date) {
    var stamp = document.querySelector("[data-live-updated]");
    var page = root();
    if (!stamp || !page || !date) {
      return;
    }
    var template = page.dataset[textKey] || "{time}";
    var parts = template.split("{time}");
    var time = document.createElement("time");
    time.dateTime = date.toISOString();
    time.textContent = clock(date);
    stamp.textContent = "";
    stamp.appendChild(document.createTextNode(parts[0]));
    stamp.appendChild(time);
    stamp.appendChild(document.createTextNode(parts.slice(1).join("{time}")));
  }

  function refresh() {
    timer = null;
    var panel = livePanel();
    if (!panel || !window.htmx || !panel.dataset.refreshUrl) {
      return;
    }
    if (document.visibilityState === "hidden") {
      staleWhileHidden = true;
      return;
    }
    window.htmx.ajax("GET", panel.dataset.refreshUrl, {
      target: "#" + panel.id,
      swap: "innerHTML",
    });
  }

  function schedule(delay) {
    if (timer === null) {
      timer = window.setTimeout(refresh, delay === undefined ? REFRESH_DELAY_MS : delay);
    }
  }

  function isLivePanel(event) {
    var panel = livePanel();
    var target = event.detail && (event.detail.target || event.detail.elt);
    return Boolean(panel && target && (target === panel || panel.contains(target)));
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (isLivePanel(event)) {
      lastUpdated = new Date();
      showStamp("textUpdated", lastUpdated);
      var page = root();
      if (page) {
        page.dataset.liveUpdatedAt = lastUpdated.toISOString();
      }
    }
  });

  function onFailure(event) {
    if (isLivePanel(event) && lastUpdated) {
      showStamp("textRefreshFailed", lastUpdated);
    }
  }

  document.addEventListener("htmx:responseError", onFailure);
  document.addEventListener("htmx:sendError", onFailure);

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && staleWhileHidden) {
      staleWhileHidden = false;
      schedule(0);
    }
  });

  document.addEventListener("helpdesk:event", function (event) {
    if (!root()) {
      return;
    }
    var detail = event.detail || {};
    if (detail.type === "hello") {
      // Back after a drop: events may have been missed meanwhile.
      if (connectedOnce) {
        schedule();
      }
      connectedOnce = true;
      return;
    }
    if (detail.type === "following") {
      // The pod's events flow from here on; catch up on any since the page
      // loaded. data-following tells the browser tests the socket is ready.
      root().dataset.following = String(detail.pod);
      schedule(0);
      return;
    }
    if (detail.type === "notify" && typeof detail.kind === "string" && LIVE_KINDS.test(detail.kind)) {
      schedule();
    }
  });
})();
