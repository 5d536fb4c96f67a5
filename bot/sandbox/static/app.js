// The sandbox page: a small Slack client for the fake Slack.
//
// The server renders every message and modal to HTML (bot/sandbox/render.py), so this
// script only keeps the page in step with the feed (/sandbox/ws), sends what the user
// does (/sandbox/compose, /click, /submit, /close) and localises <time> elements.
// Like Slack it keeps the view at the newest message (or offers "New messages ↓" when
// you have scrolled up), labels direct messages as such and lists a channel's pins.
// No framework, no build step, nothing fetched from the internet.
"use strict";

const state = {
  me: null,             // user id the page acts as
  bot: null,            // the bot's user id
  users: {},            // id -> {id, name, real_name}
  channels: {},         // id -> channel as serialised by the fake
  messages: {},         // channel id -> [{ts, html}] in ts order
  unread: {},           // channel id -> count
  current: null,        // open channel id
  socket: null,
  retry: 0,
  queued: [],           // text typed before the first snapshot, sent once it came
};

const $ = (sel) => document.querySelector(sel);

// ------------------------------------------------------------------ feed

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/sandbox/ws`);
  state.socket = ws;
  ws.onopen = () => {
    state.retry = 0;
    const saved = localStorage.getItem("sandbox.me");
    if (saved) send({ type: "as", user: saved });
  };
  ws.onmessage = (e) => handle(JSON.parse(e.data));
  ws.onclose = () => {
    setConn("reconnecting…", false);
    // Back off gently; the server may be restarting.
    state.retry = Math.min(state.retry + 1, 5);
    setTimeout(connect, 500 * state.retry);
  };
}

function send(obj) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify(obj));
  }
}

function setConn(text, ok) {
  const el = $("#conn");
  el.textContent = text;
  el.classList.toggle("ok", ok);
}

const handlers = {
  snapshot(ev) {
    state.me = ev.me;
    state.bot = ev.bot_user_id;
    state.users = Object.fromEntries(ev.users.map((u) => [u.id, u]));
    state.channels = Object.fromEntries(ev.channels.map((c) => [c.id, c]));
    state.messages = {};
    for (const [cid, list] of Object.entries(ev.messages || {})) state.messages[cid] = list;
    state.unread = {};
    renderUserPicker();
    document.querySelectorAll("#modals dialog").forEach((d) => d.remove());
    for (const v of ev.views || []) openView(v.view_id, v.html);
    const panels = $("#side-panel");
    panels.replaceChildren();
    for (const [name, html] of Object.entries(ev.panels || {})) setPanel(name, html);
    if (!state.current || !state.channels[state.current]) {
      const fromHash = decodeURIComponent(location.hash.slice(1));
      state.current = state.channels[fromHash] ? fromHash : defaultChannel();
    }
    renderSidebar();
    renderChannel();
    setHome(ev.home);
    showHome();
    // "live" once the page knows who it is and where it is: then typing reaches the bot
    setConn("live", true);
    sendQueued();
  },
  channels(ev) {
    state.channels = Object.fromEntries(ev.channels.map((c) => [c.id, c]));
    renderSidebar();
    renderHeader();
  },
  message(ev) {
    const list = (state.messages[ev.channel] ||= []);
    const i = list.findIndex((m) => m.ts === ev.ts);
    if (i >= 0) list[i] = { ts: ev.ts, html: ev.html };
    else {
      list.push({ ts: ev.ts, html: ev.html });
      list.sort((a, b) => Number(a.ts) - Number(b.ts));
      if (ev.channel !== state.current) {
        state.unread[ev.channel] = (state.unread[ev.channel] || 0) + 1;
        renderSidebar();
      }
    }
    if (ev.channel === state.current) {
      placeMessage(ev.ts, ev.html, i < 0);
      arrangeThreads($("#messages"));
      renderPins();
    }
  },
  message_deleted(ev) {
    const list = state.messages[ev.channel] || [];
    state.messages[ev.channel] = list.filter((m) => m.ts !== ev.ts);
    if (ev.channel === state.current) {
      const el = document.getElementById(domId(ev.channel, ev.ts));
      if (el) el.remove();
      renderPins();
    }
  },
  view(ev) { openView(ev.view_id, ev.html); },
  view_closed(ev) { closeView(ev.view_id, false); },
  panel(ev) { setPanel(ev.panel, ev.html); },
  home(ev) { setHome(ev.html); },
  notice(ev) { showNotice(ev.text, ev.tone || "error"); },
};

function handle(ev) {
  const fn = handlers[ev.type];
  if (fn) fn(ev);
}

// ------------------------------------------------------------------ rendering

function domId(channel, ts) {
  return `msg-${channel}-${ts.replace(".", "-")}`;
}

function defaultChannel() {
  const byName = Object.values(state.channels).find((c) => c.name === "incidents");
  return byName ? byName.id : Object.keys(state.channels)[0] || null;
}

function channelLabel(c) {
  if (c.is_im) return `@${dmPerson(c)}`;
  return `#${c.name}`;
}

// Who the other one in a direct message is, by name. The fake's DMs are the bot's with one
// person (`user`, as conversations.info says): to that person, the other is the bot.
function dmPerson(c) {
  const other = c.user && c.user !== state.me ? c.user : state.bot;
  return (state.users[other] || {}).name || c.name || "direct";
}

// What Slack calls it: "Direct message with incident-bot".
function dmTitle(c) {
  return `Direct message with ${dmPerson(c)}`;
}

function renderUserPicker() {
  const sel = $("#as-user");
  sel.replaceChildren();
  for (const u of Object.values(state.users)) {
    if (u.is_bot) continue;
    const opt = document.createElement("option");
    opt.value = u.id;
    opt.textContent = u.real_name ? `${u.real_name} (@${u.name})` : `@${u.name}`;
    opt.selected = u.id === state.me;
    sel.append(opt);
  }
}

// One sidebar item per channel, kept from render to render and changed in place: a click
// that lands while a message re-renders the sidebar (an unread badge) still reaches its link.
const sidebarItems = new Map();

function renderSidebar() {
  const lists = { channels: $("#channel-list"), dms: $("#dm-list") };
  const sorted = Object.values(state.channels)
    .filter((c) => !c.is_archived || c.id === state.current)
    .sort((a, b) => a.name.localeCompare(b.name));
  const placed = { channels: 0, dms: 0 };
  const shown = new Set();
  for (const c of sorted) {
    let li = sidebarItems.get(c.id);
    if (!li) {
      li = document.createElement("li");
      li.append(document.createElement("a"));
      sidebarItems.set(c.id, li);
    }
    fillSidebarItem(li, c);
    shown.add(c.id);
    const which = c.is_im ? "dms" : "channels";
    const at = lists[which].children[placed[which]++];
    if (at !== li) lists[which].insertBefore(li, at || null);  // moved only when out of place
  }
  for (const [id, li] of sidebarItems) {
    if (!shown.has(id)) { li.remove(); sidebarItems.delete(id); }
  }
  $("#dm-title").hidden = lists.dms.childElementCount === 0;
}

function fillSidebarItem(li, c) {
  const a = li.querySelector("a");
  a.href = `#${encodeURIComponent(c.id)}`;
  a.textContent = channelLabel(c);
  a.title = c.is_im ? dmTitle(c) : channelLabel(c);  // incident channel names are long; the sidebar clips them
  a.className = "chan";
  if (c.is_im) {
    a.classList.add("dm");
    a.setAttribute("aria-label", dmTitle(c));
  } else a.removeAttribute("aria-label");
  if (c.is_private && !c.is_im) a.classList.add("private");
  if (/^inc-/.test(c.name)) a.classList.add("incident");
  if (c.id === state.current) a.setAttribute("aria-current", "page");
  else a.removeAttribute("aria-current");
  li.querySelector(".badge")?.remove();
  const n = state.unread[c.id];
  if (n) {
    a.classList.add("unread");
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = n;
    badge.setAttribute("aria-label", `${n} unread`);
    li.append(badge);
  }
}

function renderHeader() {
  const c = state.channels[state.current];
  $("#channel-title").textContent = c ? channelLabel(c) : "No channel";
  const kind = $("#channel-kind");
  kind.textContent = c && c.is_im ? dmTitle(c) : "";
  kind.hidden = !(c && c.is_im);
  // topic_html is mrkdwn rendered (and escaped) by the server, like message HTML.
  $("#channel-topic").innerHTML = (c && c.topic_html) || "";
  localise($("#channel-topic"));
  // The hint fits the room: in an incident channel, what you do next is post an update.
  const hint = c && /^inc-/.test(c.name)
    ? "/incident update what changed"
    : "try /incident declare SEV1 Checkout is down";
  $("#composer").placeholder = c ? `Message ${channelLabel(c)}, or ${hint}` : "";
}

function renderChannel() {
  renderHeader();
  const box = $("#messages");
  box.innerHTML = (state.messages[state.current] || []).map((m) => m.html).join("");
  localise(box);
  addReactButtons(box);
  addMoreButtons(box);
  arrangeThreads(box);
  renderPins();
  closePins();
  scrollToBottom();
}

function placeMessage(ts, html, isNew) {
  const box = $("#messages");
  const tmp = document.createElement("template");
  tmp.innerHTML = html;
  const node = tmp.content.firstElementChild;
  localise(node);
  addReactButtons(node);
  addMoreButtons(node);
  const nearBottom = atBottom(box);
  const old = document.getElementById(domId(state.current, ts));
  if (old) {
    old.replaceWith(node);  // a card that grew keeps the view at the bottom if it was there
    if (nearBottom) box.scrollTop = box.scrollHeight;
    return;
  }
  // Keep ts order even when an older message arrives late.
  const after = [...box.querySelectorAll("article")].find((a) => Number(a.dataset.ts) > Number(ts));
  box.insertBefore(node, after || null);
  if (!isNew) return;
  if (nearBottom) box.scrollTop = box.scrollHeight;
  else $("#new-messages").hidden = false;
}

// ------------------------------------------------------------------ scrolling, as Slack

// At the bottom (within a line or so), new messages keep the view there; scrolled up,
// they leave it where it is and show "New messages ↓"; sending goes to the bottom.
function atBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

function scrollToBottom() {
  const box = $("#messages");
  box.scrollTop = box.scrollHeight;
  $("#new-messages").hidden = true;
}

// ------------------------------------------------------------------ pinned messages

// The header's "📌 Pinned" lists the open channel's pinned messages (the fake's pins,
// marked by the renderer as article.msg-pinned); a click scrolls to one and highlights it.
function pinnedArticles() {
  return [...document.querySelectorAll("#messages article.msg-pinned")];
}

function renderPins() {
  const pinned = pinnedArticles();
  $("#pins-count").textContent = pinned.length ? ` ${pinned.length}` : "";
  const list = $("#pins-list");
  list.replaceChildren();
  for (const a of pinned) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "pin-item";
    b.dataset.target = a.id;
    const who = document.createElement("b");
    who.textContent = (a.querySelector(".msg-author") || {}).textContent || "";
    const what = document.createElement("span");
    const text = ((a.querySelector(".msg-body") || {}).innerText || "").trim().replace(/\s+/g, " ");
    what.textContent = text.length > 120 ? `${text.slice(0, 119)}…` : text;
    b.append(who, " ", what);
    li.append(b);
    list.append(li);
  }
  $("#pins-empty").hidden = pinned.length > 0;
}

function togglePins() {
  const pane = $("#pins");
  if (!pane.hidden) { closePins(); return; }
  renderPins();
  pane.hidden = false;
  $("#pins-button").setAttribute("aria-expanded", "true");
}

function closePins() {
  $("#pins").hidden = true;
  $("#pins-button").setAttribute("aria-expanded", "false");
}

function jumpTo(id) {
  const article = document.getElementById(id);
  closePins();
  if (!article) return;
  document.querySelectorAll("#messages .msg-highlight").forEach((a) => a.classList.remove("msg-highlight"));
  article.scrollIntoView({ block: "center" });
  article.classList.add("msg-highlight");
}

// A 📌 on hover, as Slack's reaction picker would give: the bot puts the message on the
// incident's timeline (reaction_added). Not on ephemeral messages, which take no reactions.
function addReactButtons(root) {
  addHoverButtons(root, "msg-react", "📌", "React with pushpin",
    "React with :pushpin: (adds the message to the incident timeline)");
}

// A button shown on hover in each (non-ephemeral) message article under root, once.
function addHoverButtons(root, className, text, label, title) {
  if (!root) return;
  const articles = root.matches && root.matches("article") ? [root] : root.querySelectorAll("article");
  for (const a of articles) {
    if (a.classList.contains("msg-ephemeral") || a.querySelector(`:scope > .${className}`)) continue;
    const b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = text;
    b.title = title;
    b.setAttribute("aria-label", label);
    a.append(b);
  }
}

function setPanel(name, html) {
  const aside = $("#side-panel");
  let sec = aside.querySelector(`section[data-panel="${CSS.escape(name)}"]`);
  if (!html) { if (sec) sec.remove(); }
  else {
    if (!sec) {
      sec = document.createElement("section");
      sec.dataset.panel = name;
      sec.className = "panel";
      aside.append(sec);
    }
    sec.innerHTML = html;  // trusted: panels are rendered by our own server code
    localise(sec);
  }
  aside.hidden = aside.childElementCount === 0;
}

// ------------------------------------------------------------------ dates

const pad = (n) => String(n).padStart(2, "0");

function formatDate(date, fmt) {
  const now = new Date();
  const dayDiff = Math.round((startOfDay(date) - startOfDay(now)) / 86400000);
  const pretty = (style) =>
    dayDiff === 0 ? "Today" : dayDiff === -1 ? "Yesterday" : dayDiff === 1 ? "Tomorrow"
      : date.toLocaleDateString(undefined, style);
  const tokens = {
    date_num: `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`,
    date: date.toLocaleDateString(undefined, { month: "long", day: "numeric", year: "numeric" }),
    date_short: date.toLocaleDateString(undefined, { month: "short", day: "numeric", year: "numeric" }),
    date_long: date.toLocaleDateString(undefined, { weekday: "long", month: "long", day: "numeric", year: "numeric" }),
    date_pretty: pretty({ month: "long", day: "numeric", year: "numeric" }),
    date_short_pretty: pretty({ month: "short", day: "numeric", year: "numeric" }),
    date_long_pretty: pretty({ weekday: "long", month: "long", day: "numeric", year: "numeric" }),
    time: date.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" }),
    time_secs: date.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit", second: "2-digit" }),
    ago: ago(date, now),
  };
  return fmt.replace(/\{(\w+)\}/g, (m, k) => (k in tokens ? tokens[k] : m));
}

function startOfDay(d) { return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime(); }

function ago(date, now) {
  const s = Math.round((now - date) / 1000);
  const abs = Math.abs(s);
  const [n, unit] = abs < 60 ? [abs, "second"] : abs < 3600 ? [Math.round(abs / 60), "minute"]
    : abs < 86400 ? [Math.round(abs / 3600), "hour"] : [Math.round(abs / 86400), "day"];
  const words = `${n} ${unit}${n === 1 ? "" : "s"}`;
  return s >= 0 ? `${words} ago` : `in ${words}`;
}

function localise(root) {
  if (!root) return;
  for (const t of root.querySelectorAll("time[datetime][data-format]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (isNaN(d)) continue;
    t.title = d.toLocaleString();
    t.textContent = formatDate(d, t.dataset.format);
  }
}

// ------------------------------------------------------------------ actions

async function post(path, body) {
  try {
    const res = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({ ok: false, error: `HTTP ${res.status}` }));
    if (!data.ok && data.error) showNotice(data.error, "error");
    return data;
  } catch (err) {
    showNotice(`The sandbox server did not answer (${err.message}).`, "error");
    return { ok: false };
  }
}

// tone "ok" (a panel's "sent", green, announced politely) or "error" (red, an alert)
let noticeTimer = null;
function showNotice(text, tone) {
  const el = $("#notice");
  el.textContent = text;
  el.dataset.tone = tone;
  if (tone === "error") el.setAttribute("role", "alert");
  else el.removeAttribute("role");
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

async function sendQueued() {
  while (state.queued.length) {
    const text = state.queued.shift();
    await post("/sandbox/compose", { user: state.me, channel: state.current, text });
  }
}

async function compose(e) {
  e.preventDefault();
  const box = $("#composer");
  const text = box.value.trim();
  if (!text) return;
  box.value = "";
  autosize();
  showHints();
  scrollToBottom();  // as Slack: what you send shows at the bottom
  if (!state.current) {
    // the feed has not connected yet: keep it, and send it the moment it does
    state.queued.push(text);
    setConn(`connecting… (${state.queued.length} to send)`, false);
    return;
  }
  await post("/sandbox/compose", { user: state.me, channel: state.current, text });
}

function onMessagesClick(e) {
  if (onThreadOrMoreClick(e)) return;
  const react = e.target.closest("button.msg-react");
  if (react) {
    const article = react.closest("article");
    post("/sandbox/react", {
      user: state.me, channel: article.dataset.channel, ts: article.dataset.ts, name: "pushpin",
    });
    return;
  }
  const button = e.target.closest("button[data-action-id]");
  if (button && !button.closest("dialog")) {
    const article = button.closest("article");
    if (!article) return;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    if (button.dataset.url) window.open(button.dataset.url, "_blank", "noopener");
    clickAction(article, button.dataset, button.dataset.value);
    return;
  }
  const chan = e.target.closest("a[data-channel-id]");
  if (chan && !state.channels[chan.dataset.channelId]) {
    e.preventDefault();
    showNotice("That channel is not visible to you.", "error");
  }
}

function onMessagesChange(e) {
  const el = e.target.closest("[data-action-id]");
  if (!el || el.closest("dialog") || !el.value) return;
  const article = el.closest("article");
  if (article) clickAction(article, el.dataset, el.value);
}

// Checkboxes and overflow menus in messages (runbook checklists): a tick sends the
// group's whole selection after it, as Slack does; a menu shows "⋯" again once chosen.
function onMessagesChoice(e) {
  const box = e.target.closest('input[type="checkbox"]');
  const group = box && box.closest('[data-kind="checkboxes"]');
  const article = group && !group.closest("dialog") && group.closest("article");
  if (article) {
    const ticked = group.querySelectorAll('input[type="checkbox"]:checked');
    post("/sandbox/click", {
      user: state.me,
      channel: article.dataset.channel,
      ts: article.dataset.ts,
      action_id: group.dataset.actionId,
      block_id: group.dataset.blockId || null,
      value: box.value,
      selected: [...ticked].map((b) => b.value),
    });
    return;
  }
  const menu = e.target.closest('select[data-kind="overflow"]');
  if (menu && !menu.closest("dialog")) setTimeout(() => { menu.value = ""; });
}

function clickAction(article, data, value) {
  return post("/sandbox/click", {
    user: state.me,
    channel: article.dataset.channel,
    ts: article.dataset.ts,
    action_id: data.actionId,
    block_id: data.blockId || null,
    value: value ?? null,
  });
}

// ------------------------------------------------------------------ modals

function openView(viewId, html) {
  const tmp = document.createElement("template");
  tmp.innerHTML = html;
  const dialog = tmp.content.firstElementChild;
  localise(dialog);
  const old = document.querySelector(`dialog[data-view-id="${CSS.escape(viewId)}"]`);
  if (old) {
    const wasOpen = old.open;
    old.replaceWith(dialog);
    if (wasOpen) dialog.showModal();
  } else {
    $("#modals").append(dialog);
    dialog.showModal();
  }
  wireDialog(dialog, viewId);
}

function wireDialog(dialog, viewId) {
  const form = dialog.querySelector("form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const submit = form.querySelector("button[type=submit]");
    if (submit) submit.disabled = true;
    const res = await post("/sandbox/submit", { user: state.me, view_id: viewId, values: collect(form) });
    if (submit) submit.disabled = false;
    showErrors(dialog, res.errors || {});
    if (res.ok && !res.errors) closeView(viewId, false);
  });
  dialog.querySelector(".modal-close").addEventListener("click", () => closeView(viewId, true));
  // Buttons (and selects outside input blocks) in a modal send block_actions from the
  // view, carrying what the form holds at that moment, as Slack does.
  const viewAction = (data, value) => post("/sandbox/click", {
    user: state.me,
    view_id: viewId,
    action_id: data.actionId,
    block_id: data.blockId || null,
    value: value ?? null,
    values: collect(form),
  });
  form.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action-id]");
    if (!button) return;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    if (button.dataset.url) window.open(button.dataset.url, "_blank", "noopener");
    viewAction(button.dataset, button.dataset.value);
  });
  form.addEventListener("change", (e) => {
    const el = e.target.closest("select[data-action-id]");
    if (el && !el.closest(".bk-input") && el.value) viewAction(el.dataset, el.value);
  });
  // Escape closes a Slack modal too; tell the server so view_closed reaches the bot.
  dialog.addEventListener("cancel", (e) => { e.preventDefault(); closeView(viewId, true); });
}

function closeView(viewId, tellServer) {
  const dialog = document.querySelector(`dialog[data-view-id="${CSS.escape(viewId)}"]`);
  if (dialog) { if (dialog.open) dialog.close(); dialog.remove(); }
  if (tellServer) post("/sandbox/close", { user: state.me, view_id: viewId });
}

function showErrors(dialog, errors) {
  for (const p of dialog.querySelectorAll(".bk-error")) {
    const msg = errors[p.dataset.errorFor];
    p.textContent = msg || "";
    p.hidden = !msg;
    const control = dialog.querySelector(`[data-block-id="${CSS.escape(p.dataset.errorFor)}"][data-kind]`);
    if (control) control.setAttribute("aria-invalid", msg ? "true" : "false");
  }
  const known = new Set([...dialog.querySelectorAll(".bk-error")].map((p) => p.dataset.errorFor));
  const other = Object.entries(errors).filter(([k]) => !known.has(k)).map(([, v]) => v);
  const general = dialog.querySelector(".modal-error");
  general.textContent = other.join(" ");
  general.hidden = other.length === 0;
}

// {block_id: {action_id: value}} as the fake's submit_view wants it: strings for text,
// dates and single selects, arrays for multi selects and checkboxes, null when empty.
function collect(form) {
  const values = {};
  for (const el of form.querySelectorAll("[data-kind][data-block-id][data-action-id]")) {
    const kind = el.dataset.kind;
    let v;
    if (kind === "checkboxes") {
      v = [...el.querySelectorAll("input:checked")].map((i) => i.value);
    } else if (kind === "radio_buttons") {
      const c = el.querySelector("input:checked");
      v = c ? c.value : null;
    } else if (el.multiple) {
      v = [...el.selectedOptions].map((o) => o.value);
    } else {
      v = el.value === "" ? null : el.value;
    }
    (values[el.dataset.blockId] ||= {})[el.dataset.actionId] = v;
  }
  return values;
}

// ------------------------------------------------------------------ composer niceties

const COMMANDS = [
  ["/incident declare SEV1 ", "declare an incident"],
  ["/incident declare", "open the declare form"],
  ["/incident update ", "post a status update"],
  ["/incident status ", "investigating | identified | monitoring | resolved"],
  ["/incident severity ", "SEV1 … SEV4"],
  ["/incident commander ", "@user"],
  ["/incident resolve ", "resolve with a summary"],
  ["/incident list", "open incidents"],
  ["/incident help", "usage"],
  ["/oncall", "who is on call"],
];

function showHints() {
  const text = $("#composer").value;
  const ul = $("#hints");
  ul.replaceChildren();
  if (!text.startsWith("/") || text.includes("\n")) { ul.hidden = true; return; }
  const matches = COMMANDS.filter(([c]) => c.startsWith(text) && c.trim() !== text.trim());
  for (const [cmd, help] of matches.slice(0, 6)) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "hint";
    b.innerHTML = "<code></code> <span></span>";
    b.querySelector("code").textContent = cmd.trim();
    b.querySelector("span").textContent = help;
    b.addEventListener("click", () => {
      $("#composer").value = cmd;
      $("#composer").focus();
      showHints();
    });
    li.append(b);
    ul.append(li);
  }
  ul.hidden = matches.length === 0;
}

function autosize() {
  const box = $("#composer");
  box.style.height = "auto";
  box.style.height = `${Math.min(box.scrollHeight, 200)}px`;
}

// ------------------------------------------------------------------ wiring

function selectChannel() {
  const id = decodeURIComponent(location.hash.slice(1));
  if (!state.channels[id] || id === state.current) return;
  state.current = id;
  delete state.unread[id];
  renderSidebar();
  renderChannel();
  $("#composer").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#composer-form").addEventListener("submit", compose);
  $("#composer").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("#composer-form").requestSubmit();
    }
  });
  $("#composer").addEventListener("input", () => { autosize(); showHints(); });
  $("#as-user").addEventListener("change", (e) => {
    localStorage.setItem("sandbox.me", e.target.value);
    send({ type: "as", user: e.target.value });
  });
  $("#messages").addEventListener("click", onMessagesClick);
  $("#messages").addEventListener("scroll", (e) => {
    if (atBottom(e.currentTarget)) $("#new-messages").hidden = true;
  });
  $("#new-messages").addEventListener("click", scrollToBottom);
  $("#pins-button").addEventListener("click", togglePins);
  $("#pins").addEventListener("click", (e) => {
    const item = e.target.closest("button.pin-item");
    if (item) jumpTo(item.dataset.target);
  });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closePins(); });
  $("#messages").addEventListener("change", onMessagesChange);
  $("#messages").addEventListener("change", onMessagesChoice);
  // Panels (Alerts, PagerDuty) post their forms as JSON to the URL in data-post.
  $("#side-panel").addEventListener("submit", async (e) => {
    const form = e.target.closest("form[data-post]");
    if (!form) return;
    e.preventDefault();
    const body = Object.fromEntries(new FormData(form).entries());
    body.user = state.me;
    const res = await post(form.dataset.post, body);
    if (res.ok && res.message) showNotice(res.message, "ok");
  });
  window.addEventListener("hashchange", selectChannel);
  setUpShortcuts();
  // Relative times ("5 minutes ago") drift; refresh them now and then.
  setInterval(() => localise(document.body), 60000);
  connect();
});

// ------------------------------------------------------------------ shortcuts and threads
//
// The app's shortcuts come from its manifest (GET /sandbox/shortcuts): a message's hover
// menu, "⋯ More actions", lists the message ones; "⚡ Shortcuts" by the composer the global
// ones. Picking one sends it to the bot as Slack would (POST /sandbox/shortcut). Replies
// sit under their message, folded behind its "N replies" until opened, as in Slack.

const shortcuts = { list: [], open: new Set() };  // open: parent ts of unfolded threads

async function setUpShortcuts() {
  const res = await fetch("/sandbox/shortcuts").then((r) => r.json()).catch(() => ({}));
  shortcuts.list = res.shortcuts || [];
  const global = shortcuts.list.filter((s) => s.type === "global");
  if (global.length) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "shortcuts-button";
    b.textContent = "⚡ Shortcuts";
    b.setAttribute("aria-haspopup", "menu");
    b.addEventListener("click", () => openShortcutMenu(b, global, {}));
    $("#composer-form").prepend(b);
  }
  addMoreButtons($("#messages"));
  document.addEventListener("click", (e) => {
    if (!e.target.closest(".shortcut-menu, .msg-more, .shortcuts-button")) closeShortcutMenu();
  });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeShortcutMenu(); });
}

// "⋯" on hover, beside the 📌: the message shortcuts (none on ephemeral messages, as Slack)
function addMoreButtons(root) {
  if (!shortcuts.list.some((s) => s.type === "message")) return;
  addHoverButtons(root, "msg-more", "⋯", "More actions", "More actions");
}

function openShortcutMenu(anchor, items, where) {
  closeShortcutMenu();
  const menu = document.createElement("div");
  menu.className = "shortcut-menu";
  menu.setAttribute("role", "menu");
  for (const item of items) {
    const b = document.createElement("button");
    b.type = "button";
    b.setAttribute("role", "menuitem");
    b.textContent = item.name;
    b.addEventListener("click", () => {
      closeShortcutMenu();
      post("/sandbox/shortcut", { user: state.me, callback_id: item.callback_id, ...where });
    });
    menu.append(b);
  }
  document.body.append(menu);
  const box = anchor.getBoundingClientRect();
  menu.style.top = `${Math.max(8, box.top - menu.offsetHeight - 4)}px`;
  menu.style.left = `${Math.min(box.left, window.innerWidth - menu.offsetWidth - 8)}px`;
  menu.querySelector("button").focus();
}

function closeShortcutMenu() {
  document.querySelectorAll(".shortcut-menu").forEach((m) => m.remove());
}

// A click on "⋯" or on "N replies"; true when it was one of them.
function onThreadOrMoreClick(e) {
  const more = e.target.closest("button.msg-more");
  if (more) {
    const a = more.closest("article");
    const items = shortcuts.list.filter((s) => s.type === "message");
    openShortcutMenu(more, items, { channel: a.dataset.channel, ts: a.dataset.ts });
    return true;
  }
  const toggle = e.target.closest("button.thread-toggle");
  if (toggle) {
    const ts = toggle.dataset.threadOf;
    if (shortcuts.open.has(ts)) shortcuts.open.delete(ts); else shortcuts.open.add(ts);
    arrangeThreads($("#messages"));
    return true;
  }
  return false;
}

// Each reply right under its message (after the replies before it), shown only while its
// thread is open; the toggle says which.
function arrangeThreads(box) {
  for (const reply of box.querySelectorAll("article[data-thread]")) {
    const parentId = domId(reply.dataset.channel, reply.dataset.thread);
    const parent = document.getElementById(parentId);
    if (!parent) continue;
    let last = parent;
    while (last.nextElementSibling && last.nextElementSibling.dataset.thread === reply.dataset.thread
      && Number(last.nextElementSibling.dataset.ts) < Number(reply.dataset.ts)) {
      last = last.nextElementSibling;
    }
    if (last.nextElementSibling !== reply && last !== reply) last.after(reply);
    reply.hidden = !shortcuts.open.has(reply.dataset.thread);
  }
  for (const toggle of box.querySelectorAll("button.thread-toggle")) {
    toggle.setAttribute("aria-expanded", String(shortcuts.open.has(toggle.dataset.threadOf)));
  }
}

// ------------------------------------------------------------------ App Home

// "App Home" (#app-home) shows the app's Home tab instead of the channel. Each time it is
// opened, or opened as someone else, the bot hears app_home_opened (as Slack sends it) and
// publishes the tab; its buttons click as the view's (block_actions from a home view).
const HOME_HASH = "app-home";

function setHome(html) {
  const box = $("#home");
  box.innerHTML = html || "";  // rendered (and escaped) by the server, like message HTML
  localise(box);
}

function showHome() {
  const onHome = decodeURIComponent(location.hash.slice(1)) === HOME_HASH;
  $("#app-home").hidden = !onHome;
  $("main.channel").hidden = onHome;
  document.querySelector(".app").classList.toggle("on-home", onHome);
  if (onHome) $("#home-link").setAttribute("aria-current", "page");
  else $("#home-link").removeAttribute("aria-current");
  if (onHome && state.me) post("/sandbox/home", { user: state.me });
}

function onHomeClick(e) {
  const button = e.target.closest("button[data-action-id]");
  const view = e.target.closest("[data-view-id]");
  if (!button || !view) return;
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  if (button.dataset.url) window.open(button.dataset.url, "_blank", "noopener");
  post("/sandbox/click", {
    user: state.me,
    view_id: view.dataset.viewId,
    action_id: button.dataset.actionId,
    block_id: button.dataset.blockId || null,
    value: button.dataset.value ?? null,
    values: {},
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("#home").addEventListener("click", onHomeClick);
  window.addEventListener("hashchange", showHome);
});
