/*
 * The helpdesk's chat widget, for any website. A site embeds it with one tag:
 *
 *   <script src="https://helpdesk.example/static/chat/widget.js"
 *           data-helpdesk="https://helpdesk.example" async></script>
 *
 * It draws a launcher button and a chat panel inside a shadow root (the site's
 * styles and ours stay apart), starts a chat with POST /chat/session/, keeps the
 * signed visitor token in sessionStorage (this tab only, gone when it closes),
 * and talks over the visitor websocket, reconnecting with capped exponential
 * backoff and jitter. After each reconnect it asks for the messages after the
 * last one it showed and resends what the server has not acknowledged; the
 * server stores each client id once, so nothing is lost or doubled.
 *
 * No framework, no inline script or style (the host page may have a strict
 * CSP), text inserted with textContent only. Accessible: the launcher and panel
 * are buttons and forms, new messages are announced by a role="log" region,
 * Escape closes the panel, Enter sends and Shift+Enter starts a new line.
 *
 * Settings come from the <script> tag's data attributes:
 *   data-helpdesk    the helpdesk's origin (default: the script's origin)
 *   data-title       the panel's title (default "Chat with us")
 *   data-stylesheet  the widget's stylesheet (default: widget.css beside this file)
 *   data-identity    on the helpdesk's customer portal only: the signed-in
 *                    customer's short-lived signed identity token; the chat
 *                    starts as them, without asking for a name or an email
 *   data-owner       with data-identity: an opaque mark of that customer; a
 *                    chat kept in this tab by anyone else is not resumed
 *   data-intro       the start form's introduction (default: ask for an email)
 *
 * The host element (#helpdesk-chat) carries data-connection: "idle",
 * "connecting", "connected" (after the server's hello) or "disconnected".
 */
(function () {
  "use strict";

  var script =
    document.currentScript || document.querySelector("script[data-helpdesk]");
  if (!script || window.helpdeskChatLoaded) {
    return; // no settings, or the tag is on the page twice: one widget only
  }
  window.helpdeskChatLoaded = true;
  var settings = script.dataset || {};
  var HELPDESK = (settings.helpdesk || new URL(script.src).origin).replace(
    /\/+$/,
    ""
  );
  var STYLESHEET =
    settings.stylesheet ||
    script.src.replace(/widget(\.[0-9a-f]+)?\.js(\?.*)?$/, "widget.css");
  var TITLE = settings.title || "Chat with us";
  var IDENTITY = settings.identity || "";
  var OWNER = IDENTITY ? settings.owner || "" : "";
  var STORAGE_KEY = "helpdesk-chat:" + HELPDESK;

  var FIRST_RETRY_MS = 1000;
  var MAX_RETRY_MS = 30000;
  var PING_EVERY_MS = 25000; // below common proxy idle timeouts (30-60 s)
  var TYPING_SEND_EVERY_MS = 2000; // the server forwards no more often either
  var TYPING_SHOWN_MS = 6000; // an agent who stops typing stops showing
  var MAX_TEXT = 5000;
  // Close codes after which reconnecting cannot help: the token is expired or
  // refused, or this site may not chat. (Browsers see a refused handshake as
  // 1006, so the token's age is also checked here before connecting.)
  var FINAL_CLOSE_CODES = [4401, 4403];
  // Refusals worth trying again later; any other refusal of a message is final.
  var RETRIED_ERRORS = ["slow_down", "not_stored"];

  var TEXT = {
    launcher: "Chat",
    close: "Close chat",
    intro: "Ask us anything. Leave your email to get the answer there too.",
    name: "Your name (optional)",
    email: "Your email (optional)",
    start: "Start chat",
    starting: "Starting\u2026",
    message: "Message",
    send: "Send",
    log: "Messages",
    you: "You",
    agent: "Support",
    sending: "Sending\u2026",
    failed: "Not sent",
    typing: "An agent is typing\u2026",
    connecting: "Connecting\u2026",
    connected: "Connected",
    disconnected: "Reconnecting\u2026",
    offline: "No one is available right now; we'll answer by email.",
    offlineAt: "No one is available right now; we'll answer by email at ",
    askEmail: "Leave your email address and we'll answer there.",
    emailLabel: "Your email",
    emailSave: "Save email",
    expired: "This chat has ended. Start a new one any time.",
    tooLong: "Messages can be at most " + MAX_TEXT + " characters.",
    startFailed: "The chat could not start. Please try again.",
    unread: " new messages",
  };

  // --- Storage: this tab's chat, kept across reloads ---------------------------

  var memory = null; // when sessionStorage is refused (privacy modes, sandboxes)

  function load() {
    try {
      return JSON.parse(window.sessionStorage.getItem(STORAGE_KEY) || "null");
    } catch (error) {
      return memory;
    }
  }

  function save(chat) {
    memory = chat;
    try {
      if (chat) {
        window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(chat));
      } else {
        window.sessionStorage.removeItem(STORAGE_KEY);
      }
    } catch (error) {
      // Memory only: the chat lasts as long as the page.
    }
  }

  // --- DOM ------------------------------------------------------------------------

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (name === "text") {
        node.textContent = value;
      } else if (value === true) {
        node.setAttribute(name, "");
      } else if (value !== false && value !== null && value !== undefined) {
        node.setAttribute(name, String(value));
      }
    });
    (children || []).forEach(function (child) {
      node.appendChild(child);
    });
    return node;
  }

  function field(id, label, input) {
    return el("div", { class: "field" }, [
      el("label", { for: id, text: label }),
      input,
    ]);
  }

  var host = el("div", { id: "helpdesk-chat", "data-connection": "idle" });
  host.hidden = true; // until the stylesheet arrives: no flash of raw markup
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;

  var stylesheet = el("link", { rel: "stylesheet", href: STYLESHEET });
  function reveal() {
    host.hidden = false;
  }
  stylesheet.addEventListener("load", reveal);
  stylesheet.addEventListener("error", reveal); // unstyled beats invisible

  var badge = el("span", {
    class: "launcher__badge",
    "aria-hidden": "true",
    hidden: true,
  });
  var launcher = el(
    "button",
    {
      type: "button",
      class: "launcher",
      "aria-expanded": "false",
      "aria-controls": "panel",
    },
    [
      el("span", { class: "launcher__icon", "aria-hidden": "true" }),
      el("span", { class: "launcher__label", text: TEXT.launcher }),
      badge,
    ]
  );

  var connection = el("p", { class: "connection", text: "" });
  var closeButton = el("button", {
    type: "button",
    class: "close",
    "aria-label": TEXT.close,
    text: "\u00d7",
  });

  var nameInput = el("input", {
    id: "name",
    name: "name",
    type: "text",
    autocomplete: "name",
    maxlength: 120,
  });
  var startEmailInput = el("input", {
    id: "start-email",
    name: "email",
    type: "email",
    autocomplete: "email",
    maxlength: 254,
  });
  var startButton = el("button", {
    type: "submit",
    class: "button",
    text: TEXT.start,
  });
  // A signed-in customer is not asked who they are: the portal vouches for them.
  var startForm = el(
    "form",
    { class: "start", novalidate: true },
    [el("p", { class: "intro", text: settings.intro || TEXT.intro })]
      .concat(
        IDENTITY
          ? []
          : [
              field("name", TEXT.name, nameInput),
              field("start-email", TEXT.email, startEmailInput),
            ]
      )
      .concat([startButton])
  );

  var notice = el("p", { class: "notice", role: "status", hidden: true });
  var emailInput = el("input", {
    id: "email",
    name: "email",
    type: "email",
    autocomplete: "email",
    required: true,
    maxlength: 254,
  });
  var emailForm = el("form", { class: "email", hidden: true }, [
    field("email", TEXT.emailLabel, emailInput),
    el("button", { type: "submit", class: "button", text: TEXT.emailSave }),
  ]);

  var log = el("ol", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-label": TEXT.log,
    tabindex: 0,
    hidden: true,
  });
  var typing = el("p", {
    class: "typing",
    "aria-live": "polite",
    hidden: true,
  });

  var textarea = el("textarea", {
    id: "message",
    name: "message",
    rows: 2,
    maxlength: MAX_TEXT,
  });
  var composer = el("form", { class: "composer", hidden: true }, [
    el("label", { for: "message", class: "visually-hidden", text: TEXT.message }),
    textarea,
    el("button", { type: "submit", class: "button", text: TEXT.send }),
  ]);

  var alertLine = el("p", { class: "alert", role: "alert" });

  var panel = el(
    "section",
    {
      id: "panel",
      class: "panel",
      role: "dialog",
      "aria-labelledby": "title",
      hidden: true,
    },
    [
      el("header", { class: "panel__header" }, [
        el("div", {}, [el("h2", { id: "title", text: TITLE }), connection]),
        closeButton,
      ]),
      startForm,
      notice,
      emailForm,
      log,
      typing,
      composer,
      alertLine,
    ]
  );

  root.appendChild(stylesheet);
  root.appendChild(el("div", { class: "widget" }, [panel, launcher]));

  // --- State ------------------------------------------------------------------------

  // {token, websocket, expiresAt, owner, outbox: [{client_id, text}]}
  var chat = load();
  if (chat && (chat.owner || "") !== OWNER) {
    // Kept by someone else in this tab (a customer who signed out, or an
    // anonymous visitor): never shown to whoever is here now.
    chat = null;
    save(null);
  }
  var socket = null;
  var ready = false; // the server said hello on this socket
  var retryMs = FIRST_RETRY_MS;
  var retryTimer = null;
  var pingTimer = null;
  var typingTimer = null;
  var typingSentAt = 0;
  var lastId = 0; // the newest message id shown
  var shownIds = {};
  var pending = {}; // client id -> its list item, until acknowledged
  var unread = 0;

  function setConnection(state) {
    host.setAttribute("data-connection", state);
    connection.textContent = TEXT[state] || "";
  }

  function showAlert(text) {
    alertLine.textContent = text || "";
  }

  function showChat(started) {
    startForm.hidden = started;
    log.hidden = !started;
    composer.hidden = !started;
  }

  // --- Messages --------------------------------------------------------------------

  function messageItem(from, text, author) {
    var item = el("li", { class: "message message--" + from });
    item.appendChild(
      el("span", {
        class: "message__from",
        text: from === "visitor" ? TEXT.you : author || TEXT.agent,
      })
    );
    item.appendChild(el("span", { class: "message__text", text: text }));
    return item;
  }

  function markState(item, state) {
    var label = item.querySelector(".message__state");
    if (!state) {
      if (label) {
        item.removeChild(label);
      }
      item.classList.remove("message--pending", "message--failed");
      return;
    }
    if (!label) {
      label = el("span", { class: "message__state" });
      item.appendChild(label);
    }
    label.textContent = TEXT[state];
    item.classList.toggle("message--pending", state === "sending");
    item.classList.toggle("message--failed", state === "failed");
  }

  function remember(id) {
    shownIds[id] = true;
    lastId = Math.max(lastId, id);
  }

  // A message from the server: history, a live reply, or our own from another
  // tab. Only live replies count as unread: history was there before.
  function showMessage(message, live) {
    if (!message || typeof message.id !== "number" || shownIds[message.id]) {
      return;
    }
    var item = message.client_id && pending[message.client_id];
    if (item) {
      settle(message.client_id, message.id);
      return;
    }
    item = messageItem(message.from, String(message.text || ""), message.author);
    item.setAttribute("data-id", message.id);
    log.appendChild(item);
    remember(message.id);
    if (message.from === "agent") {
      hideTyping();
      if (live && panel.hidden) {
        unread += 1;
        badge.textContent = String(unread);
        badge.hidden = false;
        launcher.setAttribute(
          "aria-label",
          TEXT.launcher + ", " + unread + TEXT.unread
        );
      }
    }
    log.scrollTop = log.scrollHeight;
  }

  function settle(clientId, id) {
    var item = pending[clientId];
    delete pending[clientId];
    if (chat) {
      chat.outbox = chat.outbox.filter(function (queued) {
        return queued.client_id !== clientId;
      });
      save(chat);
    }
    if (item) {
      markState(item, null);
      item.setAttribute("data-id", id);
    }
    remember(id);
  }

  function newClientId() {
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i += 1) {
        bytes[i] = Math.floor(Math.random() * 256);
      }
    }
    return Array.prototype.map
      .call(bytes, function (byte) {
        return ("0" + byte.toString(16)).slice(-2);
      })
      .join("");
  }

  function showPending(queued) {
    var item = messageItem("visitor", queued.text);
    markState(item, "sending");
    pending[queued.client_id] = item;
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function send(frame) {
    if (socket && ready && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function sendQueued(queued) {
    send({ type: "message", text: queued.text, client_id: queued.client_id });
  }

  function submitMessage() {
    var text = textarea.value.trim();
    if (!text || !chat) {
      return;
    }
    if (text.length > MAX_TEXT) {
      showAlert(TEXT.tooLong);
      return;
    }
    showAlert("");
    var queued = { client_id: newClientId(), text: text };
    chat.outbox.push(queued);
    save(chat);
    showPending(queued);
    textarea.value = "";
    sendQueued(queued); // or on the next hello, if the socket is down
  }

  // --- Status: who can answer, and how -------------------------------------------

  function showStatus(status) {
    var away = !status.agents_online || status.state === "EMAILED";
    notice.hidden = !away;
    if (status.email) {
      notice.textContent = TEXT.offlineAt + status.email + ".";
    } else {
      notice.textContent =
        TEXT.offline + (status.email_needed ? " " + TEXT.askEmail : "");
    }
    emailForm.hidden = !status.email_needed;
  }

  function showTyping() {
    typing.textContent = TEXT.typing;
    typing.hidden = false;
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(hideTyping, TYPING_SHOWN_MS);
  }

  function hideTyping() {
    window.clearTimeout(typingTimer);
    typing.hidden = true;
    typing.textContent = "";
  }

  // --- The websocket ---------------------------------------------------------------

  function onFrame(event) {
    var frame;
    try {
      frame = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    if (!frame || typeof frame !== "object") {
      return;
    }
    if (frame.type === "hello") {
      ready = true;
      retryMs = FIRST_RETRY_MS;
      setConnection("connected");
      showStatus(frame);
      // Whatever arrived while this page was away, then what it still owes.
      send({ type: "history", after: lastId });
      chat.outbox.forEach(sendQueued);
    } else if (frame.type === "history") {
      (frame.messages || []).forEach(function (message) {
        showMessage(message, false);
      });
      if (frame.more) {
        send({ type: "history", after: lastId });
      }
    } else if (frame.type === "message") {
      showMessage(frame, true);
    } else if (frame.type === "ack") {
      settle(frame.client_id, frame.id);
    } else if (frame.type === "status") {
      showStatus(frame);
    } else if (frame.type === "typing") {
      showTyping();
    } else if (frame.type === "error") {
      onError(frame);
    }
  }

  function onError(frame) {
    if (frame.code === "ended") {
      expire();
      return;
    }
    var item = frame.client_id && pending[frame.client_id];
    if (item && RETRIED_ERRORS.indexOf(frame.code) === -1) {
      // Refused for good (too long, empty): never resent.
      delete pending[frame.client_id];
      chat.outbox = chat.outbox.filter(function (queued) {
        return queued.client_id !== frame.client_id;
      });
      save(chat);
      markState(item, "failed");
    }
    showAlert(frame.message || "");
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
      send({ type: "ping" });
    }, PING_EVERY_MS);
  }

  function scheduleReconnect() {
    if (retryTimer !== null) {
      return;
    }
    // Full jitter: many visitors reconnecting after a deploy do not arrive together.
    var delay = Math.round(retryMs / 2 + Math.random() * (retryMs / 2));
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    retryTimer = window.setTimeout(function () {
      retryTimer = null;
      connect();
    }, delay);
  }

  function connect() {
    if (!chat || (socket && socket.readyState <= WebSocket.OPEN)) {
      return;
    }
    if (Date.now() >= chat.expiresAt) {
      expire();
      return;
    }
    ready = false;
    setConnection("connecting");
    try {
      socket = new WebSocket(
        chat.websocket + "?token=" + encodeURIComponent(chat.token)
      );
    } catch (error) {
      socket = null;
      setConnection("disconnected");
      scheduleReconnect();
      return;
    }
    socket.addEventListener("open", startPing);
    socket.addEventListener("message", onFrame);
    socket.addEventListener("close", function (event) {
      stopPing();
      socket = null;
      ready = false;
      if (!chat) {
        return; // closed by expire()
      }
      setConnection("disconnected");
      if (FINAL_CLOSE_CODES.indexOf(event.code) !== -1) {
        expire();
      } else {
        scheduleReconnect();
      }
    });
  }

  // The token expired or was refused: forget this chat, offer a new one.
  function expire() {
    chat = null;
    save(null);
    if (socket) {
      socket.close();
    }
    setConnection("idle");
    showChat(false);
    notice.hidden = true;
    emailForm.hidden = true;
    showAlert(TEXT.expired);
  }

  // --- Starting a chat -------------------------------------------------------------

  function start() {
    startButton.disabled = true;
    startButton.textContent = TEXT.starting;
    showAlert("");
    window
      .fetch(HELPDESK + "/chat/session/", {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(
          IDENTITY
            ? { identity: IDENTITY }
            : {
                name: nameInput.value.trim(),
                email: startEmailInput.value.trim(),
              }
        ),
      })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.status === 201, body: body };
        });
      })
      .then(function (answer) {
        if (!answer.ok) {
          var problem = answer.body && answer.body.error;
          showAlert((problem && problem.message) || TEXT.startFailed);
          return;
        }
        chat = {
          token: answer.body.token,
          websocket: answer.body.websocket,
          expiresAt: Date.now() + answer.body.expires_in * 1000,
          owner: OWNER,
          outbox: [],
        };
        save(chat);
        showChat(true);
        showStatus(answer.body);
        textarea.focus();
        connect();
      })
      .catch(function () {
        showAlert(TEXT.startFailed);
      })
      .then(function () {
        startButton.disabled = false;
        startButton.textContent = TEXT.start;
      });
  }

  // --- Opening and closing ---------------------------------------------------------

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    unread = 0;
    badge.hidden = true;
    launcher.removeAttribute("aria-label");
    (chat ? textarea : IDENTITY ? startButton : nameInput).focus();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (panel.hidden) {
      open();
    } else {
      close();
    }
  });
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      close();
    }
  });
  startForm.addEventListener("submit", function (event) {
    event.preventDefault();
    start();
  });
  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    submitMessage();
  });
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitMessage();
    }
  });
  textarea.addEventListener("input", function () {
    var now = Date.now();
    if (now - typingSentAt >= TYPING_SEND_EVERY_MS && send({ type: "typing" })) {
      typingSentAt = now;
    }
  });
  emailForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var email = emailInput.value.trim();
    if (email) {
      send({ type: "email", email: email });
    }
  });

  // Back online after a network drop: try at once instead of waiting out backoff.
  window.addEventListener("online", function () {
    if (retryTimer !== null) {
      window.clearTimeout(retryTimer);
      retryTimer = null;
    }
    retryMs = FIRST_RETRY_MS;
    connect();
  });

  function mount() {
    document.body.appendChild(host);
    if (chat) {
      chat.outbox = chat.outbox || [];
      showChat(true);
      chat.outbox.forEach(showPending);
      connect();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mount);
  } else {
    mount();
  }
})();
