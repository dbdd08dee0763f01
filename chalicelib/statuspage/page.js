// The status page: takes a token, reads the API with it, draws every dataset's progress and
// keeps it fresh. The numbers and words come from StatusLogic (logic.js, inlined before this).
"use strict";

(() => {
  const L = StatusLogic;
  const TOKEN_KEY = "iceprod-status-token";
  const settings = JSON.parse(document.getElementById("settings").textContent);
  const base = L.apiBase(window.location.pathname);
  const interval = L.refreshInterval(window.location.hash);
  const $ = (id) => document.getElementById(id);
  const state = {
    token: null, generation: 0, failures: 0, updatedAt: null, timer: null,
    rows: new Map(), open: new Set(), order: settings.statuses, nextId: 0,
  };

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  function tasks(total) {
    return `${L.formatCount(total)} ${total === 1 ? "task" : "tasks"}`;
  }

  function statusClass(status) {
    return `s-${String(status).toLowerCase().replace(/[^a-z0-9-]/g, "_")}`;
  }

  /** One API call with the token; a network failure is status 0. Never follows redirects to
   * another origin with the token, never caches. */
  async function call(path) {
    try {
      const response = await fetch(base + path, {
        headers: { Authorization: `Bearer ${state.token}`, Accept: "application/json" },
        cache: "no-store", credentials: "omit", redirect: "error",
      });
      let body = null;
      try { body = await response.json(); } catch { body = null; }
      return { status: response.status, body };
    } catch {
      return { status: 0, body: null };
    }
  }

  function reason(result) {
    if (result.status === 0) return "the API did not answer";
    const detail = result.body && typeof result.body.error === "string" ? `: ${result.body.error}` : "";
    return `HTTP ${result.status}${detail}`;
  }

  function say(text, kind = "") {
    $("message").textContent = text;
    $("message").className = `message ${kind}`.trim();
  }

  /** A stacked bar and its legend for one set of counts (the bar's text alternative says the
   * same numbers in words; the legend shows them without relying on colour). */
  function drawBar(container, label, counts) {
    const bar = L.segments(state.order, counts);
    const figure = el("div", { class: "bar", role: "img", "aria-label": L.describe(label, bar) });
    for (const part of bar.parts) {
      const segment = el("span", { class: `seg ${statusClass(part.status)}`, "data-status": part.status });
      segment.style.flexGrow = String(part.count);
      figure.append(segment);
    }
    if (bar.total === 0) figure.append(el("span", { class: "seg empty" }));
    const legend = el("ul", { class: "legend", "aria-label": `${label} by status` });
    for (const part of bar.parts) {
      legend.append(el("li", { "data-status": part.status, "data-count": String(part.count) },
        el("span", { class: `swatch ${statusClass(part.status)}`, "aria-hidden": "true" }),
        `${part.status} `, el("strong", { text: L.formatCount(part.count) }),
        ` (${L.formatPercent(part.percent)})`));
    }
    if (bar.total === 0) legend.append(el("li", { text: "no tasks" }));
    container.replaceChildren(figure, legend);
    return bar.total;
  }

  function row(datasetId) {
    let entry = state.rows.get(datasetId);
    if (entry) return entry;
    const namesId = `names-${state.nextId++}`;
    const toggle = el("button", { type: "button", "aria-expanded": "false", "aria-controls": namesId,
      text: "Show task names" });
    const total = el("span", { class: "total" });
    const counts = el("div", { class: "counts" });
    const names = el("div", { class: "names", id: namesId, hidden: "" });
    const item = el("li", { class: "dataset", "data-dataset": datasetId },
      el("div", { class: "head" }, el("h3", { text: `Dataset ${datasetId}` }), total, toggle), counts, names);
    toggle.addEventListener("click", () => {
      const opening = !state.open.has(datasetId);
      if (opening) state.open.add(datasetId); else state.open.delete(datasetId);
      toggle.setAttribute("aria-expanded", String(opening));
      toggle.textContent = opening ? "Hide task names" : "Show task names";
      names.hidden = !opening;
      if (opening) loadNames(datasetId);
    });
    entry = { item, total, counts, names };
    state.rows.set(datasetId, entry);
    return entry;
  }

  async function loadNames(datasetId) {
    const entry = state.rows.get(datasetId);
    const result = await call(`datasets/${encodeURIComponent(datasetId)}/task_counts/name_status`);
    if (!entry || !state.open.has(datasetId)) return;
    if (L.outcome(result.status) !== "ok") {
      entry.names.replaceChildren(el("p", { text: `Task names could not be read (${reason(result)}).` }));
      return;
    }
    const names = Object.keys(result.body);
    if (names.length === 0) {
      entry.names.replaceChildren(el("p", { text: "No tasks." }));
      return;
    }
    const order = L.statusOrder(state.order, Object.values(result.body))
      .filter((status) => names.some((name) => result.body[name][status]));
    const head = el("tr", {}, el("th", { scope: "col", text: "task name" }),
      ...order.map((status) => el("th", { scope: "col", text: status })), el("th", { scope: "col", text: "total" }),
      el("th", { scope: "col", text: "progress" }));
    const body = names.map((name) => {
      const counts = result.body[name];
      const cell = el("td", { class: "mini" });
      const total = drawBar(cell, `Task ${name}`, counts);
      cell.querySelector(".legend").remove();
      return el("tr", { "data-name": name }, el("th", { scope: "row", text: name }),
        ...order.map((status) => el("td", { "data-status": status, text: L.formatCount(counts[status] || 0) })),
        el("td", { text: L.formatCount(total) }), cell);
    });
    entry.names.replaceChildren(el("table", {},
      el("caption", { text: `Dataset ${datasetId}: tasks by name and status` }),
      el("thead", {}, head), el("tbody", {}, ...body)));
  }

  function drawDatasets(listing, userToken) {
    const ids = L.sortIds(Object.keys(listing));
    const list = $("datasets");
    for (const [datasetId, entry] of state.rows) {
      if (!(datasetId in listing)) {
        entry.item.remove();
        state.rows.delete(datasetId);
        state.open.delete(datasetId);
      }
    }
    ids.forEach((datasetId, position) => {
      const entry = row(datasetId);
      const total = drawBar(entry.counts, `Dataset ${datasetId}`, listing[datasetId]);
      entry.total.textContent = tasks(total);
      if (list.children[position] !== entry.item) list.insertBefore(entry.item, list.children[position] || null);
      if (state.open.has(datasetId)) loadNames(datasetId);
    });
    const notes = [];
    if (userToken) notes.push("This token sees only the datasets granted to it; the counts of all tasks "
      + "need an admin or system token.");
    if (ids.length === 0) notes.push(userToken ? "None of its datasets has tasks yet." : "No datasets yet.");
    $("scope").textContent = notes.join(" ");
    $("scope").hidden = notes.length === 0;
  }

  function schedule(seconds) {
    clearTimeout(state.timer);
    state.timer = setTimeout(refresh, seconds * 1000);
  }

  async function refresh() {
    clearTimeout(state.timer);
    if (!state.token) return;
    const generation = ++state.generation;
    const [listing, overall] = await Promise.all([call("datasets"), call("task_counts/status")]);
    if (generation !== state.generation) return; // the token changed meanwhile
    const userToken = overall.status === 403;
    for (const result of userToken ? [listing] : [listing, overall]) {
      const outcome = L.outcome(result.status);
      if (outcome === "rejected") return rejected(result);
      if (outcome === "error") return failed(result);
    }
    state.order = L.statusOrder(settings.statuses, [...(userToken ? [] : [overall.body]),
      ...Object.values(listing.body)]);
    $("overall").hidden = userToken;
    if (!userToken) $("overall-total").textContent = tasks(drawBar($("overall-body"), "All tasks", overall.body));
    drawDatasets(listing.body, userToken);
    state.failures = 0;
    state.updatedAt = Date.now();
    document.body.dataset.state = "ok";
    say("");
    tick();
    schedule(interval);
  }

  function failed(result) {
    state.failures += 1;
    const delay = L.nextDelay(interval, state.failures);
    document.body.dataset.state = "error";
    say(`Could not refresh (${reason(result)}); retrying in ${delay} s.`, "error");
    schedule(delay);
  }

  function rejected(result) {
    clearTimeout(state.timer);
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    document.body.dataset.state = "rejected";
    clearData();
    say(`Token rejected (${reason(result)}). Paste another token.`, "rejected");
    showForm();
  }

  function clearData() {
    state.rows.clear();
    state.open.clear();
    state.updatedAt = null;
    $("datasets").replaceChildren();
    $("overall").hidden = true;
    $("scope").hidden = true;
    tick();
  }

  function showForm() {
    $("token-form").hidden = false;
    $("signed-in").hidden = true;
    $("token").focus();
  }

  function useToken(token) {
    state.token = token.trim().replace(/^bearer\s+/i, "");
    if (!state.token) return;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    state.failures = 0;
    $("token-form").hidden = true;
    $("signed-in").hidden = false;
    document.body.dataset.state = "loading";
    say("Loading…");
    refresh();
  }

  function tick() {
    const updated = $("updated");
    updated.textContent = state.updatedAt === null ? "not loaded yet"
      : L.formatAge((Date.now() - state.updatedAt) / 1000);
    updated.classList.toggle("stale", state.failures > 0);
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("token");
    const token = input.value;
    input.value = "";
    useToken(token);
  });
  $("forget").addEventListener("click", () => {
    clearTimeout(state.timer);
    state.generation += 1;
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    clearData();
    say("Token forgotten.");
    showForm();
  });
  $("refresh-now").addEventListener("click", () => {
    state.failures = 0;
    refresh();
  });
  setInterval(tick, 1000);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) useToken(saved);
})();
