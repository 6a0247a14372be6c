/*
 * The agent workspace in the browser: keyboard, live queue, live ticket page,
 * presence and collision.
 *
 * Pages work without it (forms post and redirect). With it:
 * - keyboard: j/k move in the queue, Enter/o open, t take; on a ticket r reply,
 *   n note, s solve (asks first), o reopen a solved ticket, Esc back to the
 *   queue; ? opens the help. Keys wait while the agent types in a field (Esc
 *   leaves the field first).
 * - live queue: a pod event from notifications.js ("helpdesk:event") refreshes
 *   the queue panel, at most once a second; focus stays on the ticket it was on.
 * - live ticket: events for this ticket, and colleagues' changes relayed over
 *   the presence socket, refresh its header, thread and side panel (never the
 *   composer). The composer keeps a draft per ticket and sends with Ctrl+Enter;
 *   in a note, "@" and the start of a name suggest colleagues to mention.
 * - presence: a socket per ticket page (/ws/tickets/<id>/) shows who else is
 *   viewing or typing; on a chat ticket the agent's typing of a reply also
 *   reaches the visitor (/ws/chat/agent/).
 *
 * Loaded from a static file only: no inline script, no eval (strict CSP). Text
 * shown comes from the page's data-text-* attributes (translated there) and is
 * set with textContent.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-workspace]");
  if (!root) {
    return;
  }
  var page = root.dataset.workspace;

  var QUEUE_KEY = "helpdesk.workspace.queue";
  var LAST_TICKET_KEY = "helpdesk.workspace.lastTicket";
  var DRAFT_KEY_PREFIX = "helpdesk.workspace.draft.";
  var REFRESH_DELAY_MS = 800; // events in a burst end in one refresh
  var QUEUE_TICK_MS = 60000; // relative due times stay true when nothing happens
  var TICKET_TICK_MS = 60000;
  var QUEUE_PAGE = 25;
  var QUEUE_MAX_ROWS = 200;
  var TYPING_EVERY_MS = 2000; // matches the server's throttle
  var TYPING_SHOWN_MS = 6000;
  var FIRST_RETRY_MS = 1000;
  var MAX_RETRY_MS = 30000;
  var FINAL_CLOSE_CODES = [4401, 4403, 4404, 1008];

  function storage() {
    try {
      return window.sessionStorage;
    } catch (error) {
      return null; // storage disabled: drafts and return paths are a nicety
    }
  }

  function remember(key, value) {
    var store = storage();
    if (!store) {
      return;
    }
    try {
      if (value === null || value === "") {
        store.removeItem(key);
      } else {
        store.setItem(key, value);
      }
    } catch (error) {
      /* full or refused: nothing to do */
    }
  }

  function recall(key) {
    var store = storage();
    return store ? store.getItem(key) : null;
  }

  function fill(template, name) {
    return String(template || "").replace("{name}", name);
  }

  function isTyping(target) {
    if (!target || !target.tagName) {
      return false;
    }
    if (target.isContentEditable) {
      return true;
    }
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  function openDialog() {
    return document.querySelector("dialog[open]");
  }

  function showDialog(id) {
    var dialog = document.getElementById(id);
    if (dialog && !dialog.open && typeof dialog.showModal === "function") {
      dialog.showModal();
    }
    return dialog;
  }

  // --- htmx: refusals (409, 422) carry fragments worth showing -------------------
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

  // <details> the agent opened stay open when their fragment is swapped.
  var openDetails = {};
  document.addEventListener(
    "toggle",
    function (event) {
      var details = event.target;
      if (details.dataset && details.dataset.keepOpen) {
        openDetails[details.dataset.keepOpen] = details.open;
      }
    },
    true
  );
  document.addEventListener("htmx:afterSettle", function () {
    Object.keys(openDetails).forEach(function (key) {
      if (!openDetails[key]) {
        return;
      }
      var details = document.querySelector('details[data-keep-open="' + key + '"]');
      if (details && !details.open) {
        details.open = true;
      }
    });
  });

  document.addEventListener("click", function (event) {
    var opener = event.target.closest && event.target.closest("[data-shortcuts-open]");
    if (opener) {
      showDialog("shortcuts");
    }
  });

  // --- Keyboard ----------------------------------------------------------------
  var keys = {};

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    if (openDialog()) {
      return; // a dialog has the keyboard (Esc closes it natively)
    }
    if (isTyping(event.target)) {
      if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    if (event.key === "?") {
      event.preventDefault();
      showDialog("shortcuts");
      return;
    }
    var handler = keys[event.key];
    if (handler && handler(event) !== false) {
      event.preventDefault();
    }
  });

  // --- Live events -------------------------------------------------------------
  // Calls fn once, delay after the first of a burst of calls; a call while fn's
  // request is still out runs it again afterwards.
  function coalesced(fn) {
    var timer = null;
    var running = false;
    var again = false;
    function run() {
      timer = null;
      if (running) {
        again = true;
        return;
      }
      running = true;
      var finished = false;
      function done() {
        if (finished) {
          return;
        }
        finished = true;
        running = false;
        if (again) {
          again = false;
          schedule();
        }
      }
      Promise.resolve(fn()).then(done, done);
      window.setTimeout(done, 15000); // a lost request must not stop refreshes
    }
    function schedule(delay) {
      if (timer === null) {
        timer = window.setTimeout(run, delay === undefined ? REFRESH_DELAY_MS : delay);
      }
    }
    return schedule;
  }

  var connectedOnce = false;
  function onLiveEvents(handler) {
    document.addEventListener("helpdesk:event", function (event) {
      var detail = event.detail || {};
      if (detail.type === "hello") {
        // Back after a drop: events may have been missed.
        if (connectedOnce) {
          handler({ kind: "reconnected" });
        }
        connectedOnce = true;
        return;
      }
      handler(detail);
    });
  }

  if (page === "queue") {
    queuePage();
  } else if (page === "ticket") {
    ticketPage();
  }

  // === The queue ================================================================
  function queuePage() {
    var me = root.dataset.agentId;
    var live = document.getElementById("queue-live");
    remember(QUEUE_KEY, window.location.pathname + window.location.search);

    function rows() {
      return Array.prototype.slice.call(
        document.querySelectorAll("#queue-rows tr[data-ticket-id]")
      );
    }

    function currentRow() {
      var active = document.activeElement;
      var row = active && active.closest ? active.closest("tr[data-ticket-id]") : null;
      return row || document.querySelector("#queue-rows tr.is-current");
    }

    function mark(row) {
      rows().forEach(function (each) {
        each.classList.toggle("is-current", each === row);
      });
    }

    function focusRow(row) {
      if (!row) {
        return;
      }
      mark(row);
      var link = row.querySelector(".queue-row__link");
      if (link) {
        link.focus();
        row.scrollIntoView({ block: "nearest" });
      }
    }

    document.addEventListener("focusin", function (event) {
      var row = event.target.closest && event.target.closest("#queue-rows tr[data-ticket-id]");
      if (row) {
        mark(row);
      }
    });

    function move(step) {
      var list = rows();
      if (!list.length) {
        return;
      }
      var at = list.indexOf(currentRow());
      var next = at === -1 ? 0 : Math.min(Math.max(at + step, 0), list.length - 1);
      focusRow(list[next]);
    }

    function open() {
      var row = currentRow();
      if (!row) {
        return false;
      }
      remember(LAST_TICKET_KEY, row.dataset.ticketId);
      window.location.href = row.dataset.ticketUrl;
      return true;
    }

    keys.j = function () {
      move(1);
    };
    keys.k = function () {
      move(-1);
    };
    keys.o = open;
    keys.Enter = function (event) {
      // A focused link or button does its own thing on Enter.
      var tag = event.target.tagName;
      if (tag === "A" || tag === "BUTTON") {
        return false;
      }
      return open();
    };
    keys.t = function () {
      var row = currentRow();
      var take = row && row.querySelector("[data-take]");
      if (!take) {
        return false;
      }
      take.click();
      return true;
    };

    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest(".queue-row__link");
      if (link) {
        remember(LAST_TICKET_KEY, link.closest("tr").dataset.ticketId);
      }
    });

    // Load more: continue from the first new row.
    var focusAfterLoad = null;
    document.addEventListener("click", function (event) {
      if (event.target.closest && event.target.closest("[data-load-more]")) {
        focusAfterLoad = rows().length;
      }
    });
    document.addEventListener("htmx:afterSettle", function () {
      if (focusAfterLoad !== null) {
        var row = rows()[focusAfterLoad];
        focusAfterLoad = null;
        focusRow(row);
      }
    });

    // Coming back from a ticket: start on it.
    var last = recall(LAST_TICKET_KEY);
    if (last && document.activeElement === document.body) {
      var back = document.querySelector('#queue-rows tr[data-ticket-id="' + last + '"]');
      if (back) {
        focusRow(back);
      }
    }

    function refresh() {
      var panel = document.getElementById("queue-panel");
      if (!panel || !window.htmx) {
        return null;
      }
      var url = new URL(panel.dataset.refreshUrl, window.location.href);
      var shown = rows().length;
      if (shown > QUEUE_PAGE) {
        url.searchParams.set("limit", String(Math.min(shown, QUEUE_MAX_ROWS)));
      }
      var row = currentRow();
      var hadFocus = panel.contains(document.activeElement);
      var focusId = row ? row.dataset.ticketId : null;
      var focusIndex = row ? rows().indexOf(row) : -1;
      var before = rows()
        .map(function (each) {
          return each.dataset.ticketId;
        })
        .join(",");
      return window.htmx
        .ajax("GET", url.pathname + url.search, {
          target: "#queue-panel",
          swap: "outerHTML",
        })
        .then(function () {
          var list = rows();
          var same = focusId
            ? document.querySelector('#queue-rows tr[data-ticket-id="' + focusId + '"]')
            : null;
          var keep = same || list[Math.min(focusIndex, list.length - 1)] || null;
          if (hadFocus && keep) {
            focusRow(keep);
          } else if (keep && focusIndex !== -1) {
            mark(keep);
          }
          var after = list
            .map(function (each) {
              return each.dataset.ticketId;
            })
            .join(",");
          if (live && after !== before) {
            live.textContent = root.dataset.textUpdated || "";
          }
        });
    }
    var scheduleRefresh = coalesced(refresh);

    var QUEUE_KINDS = [
      "ticket.created",
      "ticket.taken",
      "ticket.assigned",
      "ticket.solved",
      "ticket.reopened",
      "sla.breach",
      "message.created",
      "reconnected",
    ];
    onLiveEvents(function (event) {
      if (QUEUE_KINDS.indexOf(event.kind) === -1) {
        return;
      }
      // A reply or a note moves no ticket between queues; a customer's message
      // can (a pending or solved ticket comes back).
      if (event.kind === "message.created" && event.direction !== "INBOUND") {
        return;
      }
      // The agent's own take answered with its row already: leaving the row in
      // place keeps Enter on the ticket just taken.
      if (event.kind === "ticket.taken" && String(event.assignee_id) === me) {
        return;
      }
      scheduleRefresh();
    });

    window.setInterval(function () {
      if (document.visibilityState === "visible") {
        scheduleRefresh(0);
      }
    }, QUEUE_TICK_MS);
  }

  // === The ticket page ===========================================================
  function ticketPage() {
    var ticketId = root.dataset.ticketId;
    var myUserId = root.dataset.userId;
    var form = document.querySelector("[data-composer]");
    var text = form ? form.querySelector("[data-composer-text]") : null;
    var seen = form ? form.querySelector("[data-seen-message-id]") : null;
    var draftKey = DRAFT_KEY_PREFIX + ticketId;
    var queueUrl = recall(QUEUE_KEY) || root.dataset.queueUrl;
    remember(LAST_TICKET_KEY, ticketId);

    // The way back leads to the queue view the agent came from.
    Array.prototype.forEach.call(document.querySelectorAll("[data-queue-link]"), function (link) {
      link.setAttribute("href", queueUrl);
    });
    function syncQueueNext() {
      Array.prototype.forEach.call(document.querySelectorAll("[data-queue-next]"), function (input) {
        input.value = queueUrl;
      });
    }
    syncQueueNext();
    document.addEventListener("htmx:afterSettle", syncQueueNext);

    function kindInput(kind) {
      return form ? form.querySelector('input[name="kind"][value="' + kind + '"]') : null;
    }

    function currentKind() {
      var checked = form ? form.querySelector('input[name="kind"]:checked') : null;
      return checked ? checked.value : "reply";
    }

    function write(kind) {
      var input = kindInput(kind);
      if (!input || input.disabled || !text) {
        return false;
      }
      input.checked = true;
      text.focus();
      return true;
    }

    keys.r = function () {
      return write("reply");
    };
    keys.n = function () {
      return write("note");
    };
    keys.s = function () {
      if (!document.querySelector("[data-solve-form]")) {
        return false;
      }
      showDialog("solve-dialog");
      return true;
    };
    keys.o = function () {
      var reopen = document.querySelector("[data-reopen-form]");
      if (!reopen) {
        return false;
      }
      reopen.requestSubmit();
      return true;
    };
    keys.Escape = function () {
      window.location.href = queueUrl;
    };

    var solveDialog = document.getElementById("solve-dialog");
    if (solveDialog) {
      solveDialog.addEventListener("close", function () {
        var solve = document.querySelector("[data-solve-form]");
        if (solveDialog.returnValue === "solve" && solve) {
          solve.requestSubmit();
        }
        solveDialog.returnValue = "";
      });
    }

    // --- Composer: draft, send, typing, mentions -------------------------------
    if (text && form.dataset.mentionsUrl) {
      mentionSuggestions({
        form: form,
        text: text,
        list: document.getElementById("mention-suggestions"),
        status: document.getElementById("mention-status"),
        inNote: function () {
          return currentKind() === "note";
        },
      });
    }
    if (text) {
      if (!text.value) {
        text.value = recall(draftKey) || "";
      }
      var draftTimer = null;
      text.addEventListener("input", function () {
        window.clearTimeout(draftTimer);
        draftTimer = window.setTimeout(function () {
          remember(draftKey, text.value);
        }, 300);
        presence.typing(currentKind());
      });
      text.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          form.requestSubmit();
        }
      });
    }

    document.addEventListener("workspace:message-sent", function () {
      if (text) {
        text.value = "";
        remember(draftKey, null);
      }
      var alert = document.getElementById("composer-alert");
      if (alert) {
        alert.textContent = "";
      }
      updateSeen();
    });

    // Replies sent from the templates panel (another app's fragment) show too.
    document.addEventListener("tickets:reply-sent", function () {
      scheduleRefresh();
    });

    // Whatever this page changed (a message, status, fields, assignee, people):
    // colleagues on the ticket refresh too.
    document.addEventListener("htmx:afterRequest", function (event) {
      var verb = event.detail.requestConfig && event.detail.requestConfig.verb;
      if (verb === "post" && event.detail.successful) {
        presence.changed();
      }
    });

    // Only the agent's own send moves the collision check on. A colleague's
    // reply that arrived live still asks before this agent's reply goes out:
    // it showed up in the thread, but the agent may have been typing.
    function updateSeen() {
      var thread = document.getElementById("thread");
      if (seen && thread && thread.dataset.lastMessageId) {
        seen.value = thread.dataset.lastMessageId;
      }
    }

    // --- Live refresh ------------------------------------------------------------
    var deferred = false;

    function editingSide() {
      var active = document.activeElement;
      var current = document.getElementById("ticket-side");
      return Boolean(current && active && current.contains(active) && isTyping(active));
    }

    function refresh() {
      if (!window.htmx) {
        return null;
      }
      // Never pull a field from under the agent's fingers: wait until they leave it.
      if (editingSide()) {
        deferred = true;
        return null;
      }
      return window.htmx.ajax("GET", root.dataset.liveUrl, {
        target: "#ticket-notice",
        swap: "none",
      });
    }
    var scheduleRefresh = coalesced(refresh);

    document.addEventListener("focusout", function () {
      window.setTimeout(function () {
        if (deferred && !editingSide()) {
          deferred = false;
          scheduleRefresh();
        }
      }, 0);
    });

    // Due times stay true, and a colleague invited from another pod (who gets
    // no events of this pod) sees the customer's messages within the minute.
    window.setInterval(function () {
      if (document.visibilityState === "visible") {
        scheduleRefresh(0);
      }
    }, TICKET_TICK_MS);

    onLiveEvents(function (event) {
      if (event.kind === "reconnected") {
        scheduleRefresh();
        return;
      }
      if (String(event.ticket_id) === ticketId && event.kind !== "chat.typing") {
        scheduleRefresh();
      }
    });

    // --- Presence -----------------------------------------------------------------
    var presence = presenceSocket({
      path: root.dataset.presencePath,
      region: document.getElementById("presence"),
      myUserId: myUserId,
      texts: {
        label: root.dataset.textPresenceLabel,
        viewing: root.dataset.textViewing,
        reply: root.dataset.textTypingReply,
        note: root.dataset.textTypingNote,
      },
      onChanged: function () {
        scheduleRefresh(200);
      },
    });

    // A chat's visitor sees the agent typing a reply (never a note).
    var chatTyping = root.dataset.ticketChannel === "CHAT" ? chatTypingSocket(ticketId) : null;
    if (text && chatTyping) {
      text.addEventListener("input", function () {
        if (currentKind() === "reply") {
          chatTyping.typing();
        }
      });
    }
  }

  // --- @mentions: suggestions while a name is typed in a note ----------------------
  // What is typed after an "@" that does not continue a word, up to the caret
  // (the server's rule: tickets.rules.mention_handles).
  var MENTION_TYPED = /(?:^|[^\p{L}\p{N}_.+@-])@([\p{L}\p{N}_.+-]{0,150})$/u;
  var MENTION_DELAY_MS = 150;

  function mentionSuggestions(options) {
    var form = options.form;
    var text = options.text;
    var list = options.list;
    if (!list) {
      return;
    }
    var agents = [];
    var active = -1;
    var typed = null; // {start, query}: the "@name" being written
    var timer = null;
    var request = null;

    function close() {
      agents = [];
      active = -1;
      typed = null;
      list.hidden = true;
      while (list.firstChild) {
        list.removeChild(list.firstChild);
      }
      text.removeAttribute("aria-activedescendant");
    }

    function mark(index) {
      active = index;
      Array.prototype.forEach.call(list.children, function (option, at) {
        option.setAttribute("aria-selected", at === index ? "true" : "false");
        if (at === index) {
          option.scrollIntoView({ block: "nearest" });
          text.setAttribute("aria-activedescendant", option.id);
        }
      });
    }

    function announce(message) {
      if (options.status) {
        options.status.textContent = message;
      }
    }

    function render(found) {
      agents = found;
      while (list.firstChild) {
        list.removeChild(list.firstChild);
      }
      if (!agents.length) {
        var empty = document.createElement("li");
        empty.className = "mentions__empty";
        empty.textContent = form.dataset.textMentionNone || "";
        list.appendChild(empty);
        list.hidden = false;
        active = -1;
        text.removeAttribute("aria-activedescendant");
        announce(form.dataset.textMentionNone || "");
        return;
      }
      agents.forEach(function (agent, at) {
        var option = document.createElement("li");
        option.id = "mention-option-" + at;
        option.className = "mentions__option";
        option.setAttribute("role", "option");
        option.dataset.username = agent.username;
        var name = document.createElement("span");
        name.className = "mentions__name";
        name.textContent = agent.name;
        var meta = document.createElement("span");
        meta.className = "mentions__meta";
        meta.textContent =
          "@" + agent.username + (agent.pod ? " · " + agent.pod : "") +
          (agent.outside_pod ? " · " + (form.dataset.textMentionOutside || "") : "");
        option.appendChild(name);
        option.appendChild(meta);
        // mousedown, not click: the textarea keeps the focus and the caret.
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
          pick(at);
        });
        list.appendChild(option);
      });
      list.hidden = false;
      mark(0);
      announce(String(form.dataset.textMentionCount || "").replace("{count}", agents.length));
    }

    function pick(index) {
      var agent = agents[index];
      if (!agent || !typed) {
        return;
      }
      var caret = text.selectionStart;
      var inserted = "@" + agent.username + " ";
      text.value = text.value.slice(0, typed.start) + inserted + text.value.slice(caret);
      var at = typed.start + inserted.length;
      text.setSelectionRange(at, at);
      close();
      // The draft and the typing signal follow, as for any other edit.
      text.dispatchEvent(new Event("input", { bubbles: true }));
    }

    function fetchAgents(query) {
      if (request) {
        request.abort();
      }
      request = new AbortController();
      var url = new URL(form.dataset.mentionsUrl, window.location.href);
      url.searchParams.set("q", query);
      window
        .fetch(url.pathname + url.search, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          signal: request.signal,
        })
        .then(function (response) {
          return response.ok ? response.json() : { agents: [] };
        })
        .then(function (answer) {
          if (typed && typed.query === query) {
            render(answer.agents || []);
          }
        })
        .catch(function () {
          /* aborted by a newer keystroke, or offline: no suggestions */
        });
    }

    function follow() {
      var match = options.inNote() && text.selectionStart === text.selectionEnd
        ? MENTION_TYPED.exec(text.value.slice(0, text.selectionStart))
        : null;
      if (!match) {
        close();
        return;
      }
      var query = match[1];
      if (typed && typed.query === query) {
        return;
      }
      typed = { start: text.selectionStart - query.length - 1, query: query };
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        fetchAgents(query);
      }, MENTION_DELAY_MS);
    }

    text.addEventListener("input", follow);
    text.addEventListener("click", follow);
    text.addEventListener("keyup", function (event) {
      if (event.key === "ArrowLeft" || event.key === "ArrowRight" || event.key === "Home" || event.key === "End") {
        follow();
      }
    });
    text.addEventListener("blur", close);
    form.addEventListener("change", function (event) {
      if (event.target.name === "kind") {
        close();
      }
    });
    // Before the composer's own keys (Ctrl+Enter) and the page's (Esc).
    text.addEventListener("keydown", function (event) {
      if (list.hidden || event.ctrlKey || event.metaKey || event.altKey) {
        return;
      }
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!agents.length) {
          return;
        }
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        mark((active + step + agents.length) % agents.length);
      } else if ((event.key === "Enter" || event.key === "Tab") && active !== -1) {
        event.preventDefault();
        pick(active);
      } else if (event.key === "Escape") {
        event.preventDefault(); // closes the list; the agent stays in the note
        close();
      }
    });
  }

  // --- The presence socket of a ticket -------------------------------------------
  function presenceSocket(options) {
    var socket = null;
    var retryMs = FIRST_RETRY_MS;
    var retryTimer = null;
    var lastTyping = 0;
    var lastChanged = 0;
    var people = {}; // connection id -> {userId, name, typing, until}
    var clearTimer = null;

    function url() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      return scheme + window.location.host + options.path;
    }

    function render() {
      var region = options.region;
      if (!region) {
        return;
      }
      // One entry per colleague, however many tabs: typing wins over viewing.
      var byUser = {};
      var now = Date.now();
      Object.keys(people).forEach(function (sid) {
        var person = people[sid];
        if (String(person.userId) === String(options.myUserId)) {
          return;
        }
        var typing = person.typing && person.until > now ? person.typing : null;
        var known = byUser[person.userId];
        if (!known || (typing && !known.typing)) {
          byUser[person.userId] = { name: person.name, typing: typing };
        }
      });
      var ids = Object.keys(byUser);
      while (region.firstChild) {
        region.removeChild(region.firstChild);
      }
      region.hidden = ids.length === 0;
      if (!ids.length) {
        return;
      }
      var label = document.createElement("span");
      label.className = "presence__label";
      label.textContent = options.texts.label || "";
      region.appendChild(label);
      ids.forEach(function (id) {
        var person = byUser[id];
        var chip = document.createElement("span");
        chip.className = "presence__person" + (person.typing ? " presence__person--typing" : "");
        chip.dataset.userId = id;
        var template = person.typing === "note"
          ? options.texts.note
          : person.typing
            ? options.texts.reply
            : options.texts.viewing;
        chip.textContent = fill(template, person.name);
        region.appendChild(chip);
      });
    }

    function scheduleClear() {
      window.clearTimeout(clearTimer);
      clearTimer = window.setTimeout(render, TYPING_SHOWN_MS + 50);
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
        document.body.dataset.presence = "connected";
      } else if (event.type === "viewing") {
        var known = people[event.sid] || {};
        people[event.sid] = {
          userId: event.user_id,
          name: event.name,
          typing: known.typing || null,
          until: known.until || 0,
        };
        render();
      } else if (event.type === "typing") {
        people[event.sid] = {
          userId: event.user_id,
          name: event.name,
          typing: event.kind === "note" ? "note" : "reply",
          until: Date.now() + TYPING_SHOWN_MS,
        };
        render();
        scheduleClear();
      } else if (event.type === "left") {
        delete people[event.sid];
        render();
      } else if (event.type === "changed") {
        // What they were typing has gone out (or was saved): no longer typing.
        if (people[event.sid]) {
          people[event.sid].typing = null;
          render();
        }
        options.onChanged();
      }
    }

    function send(frame) {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(frame));
        return true;
      }
      return false;
    }

    function scheduleReconnect() {
      if (retryTimer !== null) {
        return;
      }
      var delay = Math.round(retryMs / 2 + Math.random() * (retryMs / 2));
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      retryTimer = window.setTimeout(function () {
        retryTimer = null;
        connect();
      }, delay);
    }

    function connect() {
      if (!options.path || (socket && socket.readyState <= WebSocket.OPEN)) {
        return;
      }
      try {
        socket = new WebSocket(url());
      } catch (error) {
        scheduleReconnect();
        return;
      }
      socket.addEventListener("message", onMessage);
      socket.addEventListener("close", function (event) {
        socket = null;
        people = {};
        render();
        document.body.dataset.presence = "disconnected";
        if (FINAL_CLOSE_CODES.indexOf(event.code) === -1) {
          scheduleReconnect();
        }
      });
    }

    connect();

    return {
      typing: function (kind) {
        var now = Date.now();
        if (now - lastTyping >= TYPING_EVERY_MS && send({ type: "typing", kind: kind })) {
          lastTyping = now;
        }
      },
      changed: function () {
        var now = Date.now();
        if (now - lastChanged >= 500 && send({ type: "changed" })) {
          lastChanged = now;
        }
      },
    };
  }

  // --- The agent's side of a chat: typing reaches the visitor ----------------------
  function chatTypingSocket(ticketId) {
    var socket = null;
    var last = 0;
    function ensure() {
      if (socket && socket.readyState <= WebSocket.OPEN) {
        return;
      }
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      try {
        socket = new WebSocket(scheme + window.location.host + "/ws/chat/agent/");
      } catch (error) {
        socket = null;
      }
    }
    return {
      typing: function () {
        ensure();
        var now = Date.now();
        if (socket && socket.readyState === WebSocket.OPEN && now - last >= TYPING_EVERY_MS) {
          socket.send(JSON.stringify({ type: "typing", ticket_id: Number(ticketId) }));
          last = now;
        }
      },
    };
  }
})();
