/* Partner Portal chat widget: one <script> tag, no dependencies, no external resources.

   <script src="https://portal.example/widget/chat.js" data-key="ppw_…" async></script>

   Attributes (all optional but data-key):
     data-key            the widget key (ppw_…), sent as x-api-key
     data-endpoint       the stream's URL; default: /chat on the script's own origin
     data-title          the panel's heading
     data-primary-color  launcher, header and visitor bubbles (#rgb or #rrggbb)
     data-accent-color   the bot's label
     data-greeting       the bot's first line, shown before anything is sent
     data-target         a CSS selector: draw the panel inside that element, open, with no
                         launcher (the portal's live preview uses this)
     data-csrf-token     sent as X-CSRFToken (the portal's same-origin preview only)

   The conversation continues across page loads through a sessionId kept in localStorage;
   "New chat" starts another. The stream is read with fetch and a stream reader, one JSON
   object per line (start, token, done, error). Each of them is also dispatched as a DOM event
   "chatwidget:<type>" (bubbling, composed) on the widget's host element, with the line as
   detail, for sites that want to react. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var data = script.dataset;
  var hex = /^#(?:[0-9a-fA-F]{3}){1,2}$/;
  var config = {
    key: data.key || "",
    endpoint: data.endpoint || new URL("/chat", script.src).href,
    title: data.title || "Chat",
    primary: hex.test(data.primaryColor || "") ? data.primaryColor : "#2b59c3",
    accent: hex.test(data.accentColor || "") ? data.accentColor : "#18223a",
    greeting: data.greeting || "",
    target: data.target || "",
    csrf: data.csrfToken || ""
  };
  /* The key's public part (ppw_ + its id) survives a rotation, so visitors keep their chat. */
  var storageKey = "chatwidget:" + config.endpoint + ":" + config.key.slice(0, 20);

  function randomId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return "w-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  var memorySession = "";
  function sessionId(fresh) {
    try {
      var kept = fresh ? "" : window.localStorage.getItem(storageKey);
      if (kept) return kept;
      var made = randomId();
      window.localStorage.setItem(storageKey, made);
      return made;
    } catch (e) { /* storage refused (private mode): this page's memory only */
      if (fresh || !memorySession) memorySession = randomId();
      return memorySession;
    }
  }

  var css =
    ":host{all:initial;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24}" +
    "*{box-sizing:border-box}" +
    ".launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;" +
    "background:var(--primary);color:#fff;cursor:pointer;display:flex;align-items:center;justify-content:center;" +
    "box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}" +
    ".panel{display:flex;flex-direction:column;background:#fff;border-radius:12px;overflow:hidden;" +
    "box-shadow:0 8px 30px rgba(0,0,0,.22);width:360px;max-width:calc(100vw - 24px);height:500px;max-height:calc(100vh - 110px)}" +
    ".floating{position:fixed;right:20px;bottom:88px;z-index:2147483000}" +
    ".inline{width:100%;max-width:none;height:100%;min-height:380px;box-shadow:0 0 0 1px #e4e7eb}" +
    ".panel[hidden]{display:none}" +
    "header{display:flex;align-items:center;gap:8px;padding:12px 14px;background:var(--primary);color:#fff}" +
    "header h2{flex:1;margin:0;font-size:15px;font-weight:650}" +
    "header button{background:rgba(255,255,255,.18);color:#fff;border:0;border-radius:6px;padding:4px 8px;cursor:pointer;font:inherit;font-size:12px}" +
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f7f8fa}" +
    ".msg{max-width:85%;padding:8px 11px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}" +
    ".visitor{align-self:flex-end;background:var(--primary);color:#fff;border-bottom-right-radius:3px}" +
    ".bot{align-self:flex-start;background:#fff;border:1px solid #e4e7eb;border-bottom-left-radius:3px}" +
    ".bot .who{display:block;font-size:11px;font-weight:650;color:var(--accent);margin-bottom:2px}" +
    ".bot.streaming .text::after{content:'\\258D';animation:blink 1s steps(1) infinite;margin-left:1px}" +
    "@keyframes blink{50%{opacity:0}}" +
    ".problem{align-self:center;background:#fbe9e7;color:#b3261e;font-size:13px;border-radius:6px}" +
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #e4e7eb;background:#fff}" +
    "textarea{flex:1;resize:none;border:1px solid #cfd4da;border-radius:8px;padding:8px;font:inherit;min-height:40px;max-height:120px}" +
    "textarea:focus{outline:2px solid var(--primary);outline-offset:-1px}" +
    "form button{border:0;border-radius:8px;background:var(--primary);color:#fff;padding:0 14px;font:inherit;font-weight:600;cursor:pointer}" +
    "form button:disabled{opacity:.5;cursor:default}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}";

  var host = document.createElement("div");
  host.setAttribute("data-chat-widget", "");
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" + css + "</style>" +
    (config.target ? "" : '<button class="launcher" type="button" aria-expanded="false" aria-label="Open the chat">' +
      '<svg viewBox="0 0 24 24" width="26" height="26" aria-hidden="true" fill="currentColor">' +
      '<path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg></button>') +
    '<section class="panel" role="dialog">' +
    '<header><h2></h2><button type="button" class="new">New chat</button>' +
    (config.target ? "" : '<button type="button" class="close" aria-label="Close the chat">&#10005;</button>') +
    "</header>" +
    '<div class="log" role="log" aria-live="polite"></div>' +
    '<form><label class="sr" for="message">Your message</label>' +
    '<textarea id="message" rows="1" placeholder="Type a message…" maxlength="4000"></textarea>' +
    '<button type="submit">Send</button></form></section>';
  host.style.setProperty("--primary", config.primary);
  host.style.setProperty("--accent", config.accent);

  var panel = root.querySelector(".panel");
  var launcher = root.querySelector(".launcher");
  var log = root.querySelector(".log");
  var form = root.querySelector("form");
  var input = root.querySelector("textarea");
  var send = root.querySelector("form button");
  root.querySelector("h2").textContent = config.title;
  panel.setAttribute("aria-label", config.title);
  panel.classList.add(config.target ? "inline" : "floating");
  if (!config.target) panel.hidden = true;

  function emit(type, detail) {
    host.dispatchEvent(new CustomEvent("chatwidget:" + type, { bubbles: true, composed: true, detail: detail }));
  }

  function bubble(kind, text) {
    var item = document.createElement("div");
    item.className = "msg " + kind;
    if (kind === "bot") {
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = config.title;
      item.appendChild(who);
    }
    var body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.appendChild(body);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }
  function problem(text) { bubble("problem", text); }

  function greet() {
    log.textContent = "";
    if (config.greeting) bubble("bot", config.greeting);
  }

  function open(show) {
    if (config.target) return;
    panel.hidden = !show;
    launcher.setAttribute("aria-expanded", String(show));
    launcher.setAttribute("aria-label", show ? "Close the chat" : "Open the chat");
    if (show) input.focus();
  }

  async function ask(text) {
    var headers = { "Content-Type": "application/json" };
    if (config.key) headers["x-api-key"] = config.key;
    if (config.csrf) headers["X-CSRFToken"] = config.csrf;
    var reply = bubble("bot", "");
    var replyText = reply.querySelector(".text");
    reply.classList.add("streaming");
    var response;
    try {
      response = await fetch(config.endpoint, {
        method: "POST",
        headers: headers,
        body: JSON.stringify({ sessionId: sessionId(false), message: text })
      });
    } catch (e) {
      reply.remove();
      problem("The chat cannot be reached right now.");
      emit("error", { type: "error", error: String(e) });
      return;
    }
    if (!response.ok) {
      reply.remove();
      var said = "";
      try { said = (await response.json()).error || ""; } catch (e) { /* not JSON */ }
      problem(said || "The chat answered " + response.status + ".");
      emit("error", { type: "error", error: said, status: response.status });
      return;
    }
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var pending = "";
    var ended = false;
    function handle(line) {
      if (!line.trim()) return;
      var event = JSON.parse(line);
      if (event.type === "token") {
        replyText.textContent += event.token;
        log.scrollTop = log.scrollHeight;
      } else if (event.type === "done") {
        replyText.textContent = event.message;
        ended = true;
      } else if (event.type === "error") {
        problem(event.error);
        ended = true;
      }
      emit(event.type, event);
    }
    try {
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        /* A line may arrive in two chunks: keep the unfinished end for the next one. */
        pending += decoder.decode(chunk.value, { stream: true });
        var lines = pending.split("\n");
        pending = lines.pop();
        lines.forEach(handle);
      }
      pending += decoder.decode();
      if (pending) handle(pending);
      if (!ended) problem("The reply was cut off.");
    } catch (e) {
      problem("The reply was cut off.");
    }
    reply.classList.remove("streaming");
    if (!replyText.textContent) reply.remove();
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || send.disabled) return;
    input.value = "";
    bubble("visitor", text);
    send.disabled = true;
    try { await ask(text); } finally { send.disabled = false; input.focus(); }
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  root.querySelector(".new").addEventListener("click", function () {
    sessionId(true);
    greet();
    input.focus();
  });
  if (launcher) {
    launcher.addEventListener("click", function () { open(panel.hidden); });
    root.querySelector(".close").addEventListener("click", function () { open(false); launcher.focus(); });
  }

  greet();
  function mount() {
    var place = config.target ? document.querySelector(config.target) : document.body;
    if (!place) return;
    place.appendChild(host);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
  else mount();
})();
