/*
 * The authority funnel in the browser: the agent panel on the ticket page and
 * the approval queue, both live.
 *
 * - panel ([data-authority-panel]): a funnel event for this ticket (a grant, a
 *   request, a decision; from notifications.js as "helpdesk:event") refreshes
 *   the panel, never while the agent is typing in it (it waits until they
 *   leave the field). The ask form's button says "Grant" while the amount is
 *   within the agent's own limit and "Ask for approval" above it.
 * - queue ([data-approval-queue]): a funnel event of the pod refreshes the
 *   list, and so does every minute (due times stay true; an admin watching
 *   every pod gets no pod events).
 * - refusals (409, 422) inside [data-swap-errors] carry fragments to show.
 *
 * Loaded from a static file only, once per page (the panel's refreshes do not
 * bring it again): no inline script, no eval (strict CSP).
 */
(function () {
  "use strict";

  if (window.helpdeskAuthority) {
    return;
  }
  window.helpdeskAuthority = true;

  var REFRESH_DELAY_MS = 400; // events in a burst end in one refresh
  var QUEUE_TICK_MS = 60000;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var elt = event.detail.elt;
    if (
      (status === 409 || status === 422) &&
      elt &&
      elt.closest &&
      elt.closest("[data-swap-errors]")
    ) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function typingIn(container) {
    var active = document.activeElement;
    if (!container || !active || !container.contains(active)) {
      return false;
    }
    var tag = active.tagName;
    return (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") && active.type !== "hidden";
  }

  /* What the user has typed into a region's forms, by field id, to put back
   * after the region is swapped (a refresh must not eat a half-typed note). */
  function drafts(container) {
    var kept = {};
    var fields = container.querySelectorAll("input[type=number], input[type=text], textarea");
    for (var index = 0; index < fields.length; index += 1) {
      if (fields[index].id && fields[index].value) {
        kept[fields[index].id] = fields[index].value;
      }
    }
    return kept;
  }

  function restore(kept) {
    Object.keys(kept).forEach(function (id) {
      var field = document.getElementById(id);
      if (field && !field.value) {
        field.value = kept[id];
        field.dispatchEvent(new Event("input", { bubbles: true }));
      }
    });
  }

  /* A refresher for one live region: coalesces bursts and waits while the
   * user is in the middle of filling one of its forms. */
  // The outcome of the last approve or deny ("Approved and granted: ...") comes
  // back in the region it swaps. The grant's own live event triggers a refresh
  // that may have left before that answer arrived and land after it: put the
  // outcome back rather than wipe it.
  var NOTICE_KEEP_MS = 15000;
  var recentNotices = null;
  document.addEventListener("htmx:afterSwap", function () {
    var found = document.querySelector("#approval-list .messages, #authority-panel-body .messages");
    if (found) {
      recentNotices = { node: found, at: Date.now() };
    }
  });

  function keepRecentNotices(region) {
    if (!region || region.querySelector(".messages") || !recentNotices) {
      return;
    }
    if (Date.now() - recentNotices.at < NOTICE_KEEP_MS && !recentNotices.node.isConnected) {
      region.insertBefore(recentNotices.node, region.firstChild);
    }
  }

  function refresher(find, options) {
    var timer = null;
    var deferred = false;

    function run() {
      timer = null;
      var region = find();
      if (!region || !window.htmx) {
        return;
      }
      if (typingIn(region)) {
        deferred = true;
        return;
      }
      var kept = drafts(region);
      var done = window.htmx.ajax("GET", region.dataset.refreshUrl || options.url(region), {
        target: "#" + options.target,
        swap: "outerHTML",
      });
      if (done && done.then) {
        done.then(function () {
          restore(kept);
          keepRecentNotices(find());
        });
      }
    }

    document.addEventListener("focusout", function () {
      window.setTimeout(function () {
        var region = find();
        if (deferred && region && !typingIn(region)) {
          deferred = false;
          schedule(0);
        }
      }, 0);
    });

    function schedule(delay) {
      if (timer === null) {
        timer = window.setTimeout(run, delay === undefined ? REFRESH_DELAY_MS : delay);
      }
    }
    return schedule;
  }

  function isFunnelEvent(detail) {
    return typeof detail.kind === "string" && detail.kind.indexOf("authority.") === 0;
  }

  // --- The agent panel ---------------------------------------------------------------
  function panel() {
    return document.querySelector("[data-authority-panel]");
  }

  var refreshPanel = refresher(panel, {
    target: "authority-panel-body",
    url: function (region) {
      return region.dataset.refreshUrl;
    },
  });

  // --- The approval queue ------------------------------------------------------------
  function queue() {
    return document.querySelector("[data-approval-queue]");
  }

  var refreshQueue = refresher(
    function () {
      return document.getElementById("approval-list");
    },
    {
      target: "approval-list",
      url: function () {
        var root = queue();
        return root ? root.dataset.refreshUrl : window.location.pathname;
      },
    }
  );

  var connectedOnce = false;
  document.addEventListener("helpdesk:event", function (event) {
    var detail = event.detail || {};
    if (detail.type === "hello") {
      // Back after a drop: events may have been missed.
      if (connectedOnce) {
        refreshPanel();
        if (queue()) {
          refreshQueue();
        }
      }
      connectedOnce = true;
      return;
    }
    if (!isFunnelEvent(detail)) {
      return;
    }
    var region = panel();
    if (region && String(detail.ticket_id) === region.dataset.ticketId) {
      refreshPanel();
    }
    if (queue()) {
      refreshQueue();
    }
  });

  window.setInterval(function () {
    if (queue() && document.visibilityState === "visible") {
      refreshQueue(0);
    }
  }, QUEUE_TICK_MS);

  // --- Grant or ask: the button says which the amount will be --------------------
  function limitOf(value) {
    if (value === "any") {
      return Infinity;
    }
    return value === "" ? null : Number(value);
  }

  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field || field.name !== "amount") {
      return;
    }
    var form = field.closest("[data-ask-form]");
    var button = form && form.querySelector("[data-ask-button]");
    if (!button) {
      return;
    }
    var amount = Number(field.value);
    var allowed = limitOf(form.dataset.allowed || "");
    var ceiling = limitOf(form.dataset.ceiling || "");
    var grant = allowed !== null && (!field.value || amount <= allowed);
    if (!grant && ceiling === null) {
      grant = allowed !== null; // the engine will say why; no approval to ask
    }
    button.textContent = grant ? form.dataset.textGrant : form.dataset.textAsk;
  });
})();
