// The usage page (api.md "Pages for people"): it reads the same JSON API the extension does, with the
// pasted key kept in sessionStorage and sent only as a bearer header, never in a URL. Everything it
// writes into the page goes in as text (textContent), never as HTML.
"use strict";

(function () {
  const KEY = "leadledger.apiKey";
  const PAGE = 500; // the API's largest page: usage rows and ledger pages follow next_cursor
  const MAX_PAGES = 40;
  const LEDGER_COLUMNS = ["id", "created_at", "credit_type", "amount", "balance_after", "action",
    "user_id", "person_id", "note"];
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const report = $("report");
  const TYPES = JSON.parse(report.dataset.creditTypes);
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const ledger = { rows: [], cursor: null, filters: {} };
  let days = null;
  let me = null;

  class ApiError extends Error {
    constructor(status, problem) {
      super(problem.detail || problem.title || "HTTP " + status);
      this.status = status;
      this.problem = problem;
    }
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== "" && value !== null && value !== undefined) q.set(name, value);
    }
    const text = q.toString();
    return text ? "?" + text : "";
  }

  async function call(path, params, csv) {
    let answer;
    try {
      answer = await fetch(path + query(params || {}), {
        headers: {
          Authorization: "Bearer " + sessionStorage.getItem(KEY),
          Accept: csv ? "text/csv" : "application/json",
        },
        credentials: "omit",
        cache: "no-store",
      });
    } catch (err) {
      throw new ApiError(0, { detail: "the server could not be reached (" + err.message + ")" });
    }
    if (answer.ok) return csv ? answer.text() : answer.json();
    const problem = await answer.json().catch(() => ({}));
    throw new ApiError(answer.status, problem);
  }

  // Every row of a listing: follows next_cursor, so nothing is silently cut (bounded, and saying so).
  async function allRows(path, params, key) {
    let first = null;
    let rows = [];
    let cursor = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const answer = await call(path, Object.assign({}, params, { limit: PAGE, cursor: cursor }));
      first = first || answer;
      rows = rows.concat(answer[key]);
      cursor = answer.next_cursor;
      if (!cursor) return { first: first, rows: rows };
    }
    throw new Error("more than " + MAX_PAGES * PAGE + " rows to show; the page shows none of them");
  }

  function explain(err) {
    if (!(err instanceof ApiError)) return "This page failed: " + err.message;
    if (err.status === 401) {
      return "This key was not accepted: " + err.message + ". Paste the whole key (it is shown " +
        "once, when it is made), or ask an admin of your account for a new one.";
    }
    if (err.status === 403) return "This key may not read this: " + err.message + ".";
    if (err.status === 429) return "Too many requests just now; wait a moment and try again.";
    if (err.status === 0) return "No answer: " + err.message + ".";
    return (err.problem.title || "Error " + err.status) + ": " + err.message;
  }

  function say(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Dates are days in the browser's time zone, sent with tz= so the API counts the same days.
  function today() {
    return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit",
      day: "2-digit" }).format(new Date());
  }

  function addDays(day, n) {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
  }

  function lastThirtyDays() {
    const to = addDays(today(), 1); // `to` is not included: the 30 days end with today
    const from = addDays(to, -30);
    const list = [];
    for (let i = 0; i < 30; i++) list.push(addDays(from, i));
    return { from: from, to: to, tz: tz, list: list };
  }

  function download(name, text) {
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    const link = el("a", null, { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  function csvCell(value) {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function fillList(id, values) {
    const list = $(id);
    const known = new Set(Array.from(list.options, (o) => o.value));
    for (const value of values) {
      if (value && !known.has(value)) {
        list.append(el("option", null, { value: value }));
        known.add(value);
      }
    }
  }

  function userLabel(userId) {
    if (!userId) return "";
    return me && userId === me.user_id ? userId + " (you)" : userId;
  }

  // --- balances -----------------------------------------------------------------------------

  function card(type) {
    return report.querySelector('.card[data-credit-type="' + type + '"]');
  }

  function field(node, name) {
    return node.querySelector('[data-field="' + name + '"]');
  }

  function showBalances(summary) {
    for (const type of TYPES) field(card(type), "balance").textContent = summary.balance[type];
    const tracking = card("tracking");
    field(tracking, "in_use").textContent = summary.tracking.in_use;
    field(tracking, "total").textContent = summary.tracking.total;
  }

  function showAverages(average) {
    for (const type of TYPES) field(card(type), "average").textContent = average[type];
  }

  // --- the chart: a bar per day for each credit type used in the 30 days ----------------------

  function dailyUse(rows) {
    const used = {};
    for (const row of rows) {
      if (!row.used) continue;
      const day = String(row.period_start).slice(0, 10);
      used[row.credit_type] = used[row.credit_type] || {};
      used[row.credit_type][day] = (used[row.credit_type][day] || 0) + row.used;
    }
    return used;
  }

  function drawAxes(chart, geometry, max) {
    const { width, left, right, height, slot, y } = geometry;
    chart.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: y(0), y2: y(0) }));
    chart.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(max), y2: y(max) }));
    chart.append(svg("text", { class: "tick", x: left - 6, y: y(0) + 4, "text-anchor": "end" }, "0"));
    chart.append(svg("text", { class: "tick", x: left - 6, y: y(max) + 4, "text-anchor": "end" }, String(max)));
    for (const i of [0, 14, 29]) {
      chart.append(svg("text", { class: "tick", x: left + (i + 0.5) * slot, y: height - 8,
        "text-anchor": "middle" }, days.list[i].slice(5)));
    }
  }

  function drawChart(rows, totals) {
    const chart = $("usage-chart");
    const legend = $("chart-legend");
    chart.replaceChildren();
    legend.replaceChildren();
    chart.dataset.from = days.from;
    chart.dataset.to = days.to;
    chart.dataset.tz = days.tz;
    const used = dailyUse(rows);
    const types = TYPES.filter((t) => used[t]);
    const max = Math.max(1, ...types.flatMap((t) => Object.values(used[t])));
    const [width, height, left, right, top, bottom] = [640, 240, 40, 12, 12, 28];
    const slot = (width - left - right) / days.list.length;
    const bar = (slot * 0.8) / Math.max(1, types.length);
    const y = (v) => height - bottom - (v * (height - top - bottom)) / max;
    drawAxes(chart, { width, left, right, height, slot, y }, max);
    if (!types.length) {
      chart.append(svg("text", { class: "empty", x: width / 2, y: height / 2, "text-anchor": "middle" },
        "No credits used in these 30 days"));
    }
    types.forEach((type, k) => {
      const series = svg("g", { class: "series series-" + type, "data-credit-type": type });
      days.list.forEach((day, i) => {
        const value = used[type][day];
        if (!value) return;
        const rect = svg("rect", { x: left + i * slot + slot * 0.1 + k * bar, y: y(value), width: bar,
          height: y(0) - y(value), "data-day": day, "data-used": value });
        rect.append(svg("title", {}, day + ": " + value + " " + type));
        series.append(rect);
      });
      chart.append(series);
      const item = el("span", null, { class: "legend-item", "data-credit-type": type });
      item.append(el("span", null, { class: "swatch series-" + type }));
      item.append(document.createTextNode(type + ": " + totals[type].used + " used"));
      legend.append(item);
    });
  }

  function showTeammates(rows) {
    const body = $("teammates").querySelector("tbody");
    body.replaceChildren();
    const users = new Map();
    for (const row of rows) {
      if (!row.used) continue; // a grant (no user) or a release only: no use to show
      const id = row.user_id || "";
      if (!users.has(id)) users.set(id, {});
      const use = users.get(id);
      use[row.credit_type] = (use[row.credit_type] || 0) + row.used;
    }
    const total = (use) => Object.values(use).reduce((a, b) => a + b, 0);
    const order = Array.from(users.entries()).sort((a, b) => total(b[1]) - total(a[1]));
    for (const [id, use] of order) {
      const tr = el("tr", null, { "data-user-id": id });
      tr.append(el("td", id ? userLabel(id) : "(no user)"));
      for (const type of TYPES) tr.append(el("td", use[type] || 0, { "data-credit-type": type }));
      body.append(tr);
    }
    if (!order.length) {
      body.append(el("tr")).append(el("td", "Nobody used credits in these 30 days.",
        { colspan: TYPES.length + 1 }));
    }
    fillList("known-users", users.keys());
  }

  async function loadUsage() {
    const message = $("usage-message");
    say(message, "");
    $("range").textContent = days.from + " to " + days.list[29] + " (" + tz + ")";
    const range = { from: days.from, to: days.to, tz: tz };
    try {
      const [byDay, byUser] = await Promise.all([
        allRows("/v1/credits/usage", Object.assign({ group_by: "day" }, range), "rows"),
        allRows("/v1/credits/usage", Object.assign({ group_by: "user" }, range), "rows"),
      ]);
      showAverages(byDay.first.average_per_month);
      drawChart(byDay.rows, byDay.first.totals);
      showTeammates(byUser.rows);
    } catch (err) {
      if (err.status === 401) throw err;
      say(message, err.status === 404
        ? "This server does not report usage yet (GET /v1/credits/usage answered 404)."
        : explain(err));
    }
  }

  async function downloadUsage() {
    try {
      const csv = await call("/v1/credits/usage",
        { from: days.from, to: days.to, tz: tz, group_by: "day", format: "csv" }, true);
      download("usage-" + days.from + "-to-" + days.to + ".csv", csv);
    } catch (err) {
      say($("usage-message"), explain(err));
    }
  }

  // --- the ledger ----------------------------------------------------------------------------

  function ledgerRow(entry) {
    const tr = el("tr", null, { "data-entry-id": entry.id });
    const when = new Date(entry.created_at);
    tr.append(el("td", when.toLocaleString(), { "data-field": "created_at", title: entry.created_at }));
    tr.append(el("td", entry.credit_type, { "data-field": "credit_type" }));
    tr.append(el("td", entry.amount, { "data-field": "amount" }));
    tr.append(el("td", entry.balance_after, { "data-field": "balance_after" }));
    tr.append(el("td", entry.action, { "data-field": "action" }));
    tr.append(el("td", userLabel(entry.user_id), { "data-field": "user_id" }));
    tr.append(el("td", entry.person_id || "", { "data-field": "person_id" }));
    return tr;
  }

  async function loadLedger(more) {
    const message = $("ledger-message");
    const body = $("ledger").querySelector("tbody");
    say(message, "");
    if (!more) {
      ledger.rows = [];
      ledger.cursor = null;
      body.replaceChildren();
    }
    try {
      const page = await call("/v1/credits/ledger",
        Object.assign({}, ledger.filters, { limit: 50, cursor: ledger.cursor }));
      ledger.rows = ledger.rows.concat(page.entries);
      ledger.cursor = page.next_cursor;
      for (const entry of page.entries) body.append(ledgerRow(entry));
      $("ledger-more").hidden = !ledger.cursor;
      fillList("known-actions", page.entries.map((e) => e.action));
      fillList("known-users", page.entries.map((e) => e.user_id));
      if (!ledger.rows.length) say(message, "No ledger entries match these filters.");
    } catch (err) {
      if (err.status === 401) throw err;
      $("ledger-more").hidden = true;
      say(message, explain(err));
    }
  }

  function ledgerCsv() {
    const lines = [LEDGER_COLUMNS.join(",")];
    for (const entry of ledger.rows) lines.push(LEDGER_COLUMNS.map((c) => csvCell(entry[c])).join(","));
    download("ledger.csv", lines.join("\r\n") + "\r\n");
  }

  // --- the whole page ------------------------------------------------------------------------

  function forget(text) {
    sessionStorage.removeItem(KEY);
    report.hidden = true;
    $("forget").hidden = true;
    say($("message"), text);
  }

  async function show() {
    try {
      const summary = await call("/v1/credits");
      me = await call("/v1/me");
      showBalances(summary);
      report.hidden = false;
      $("forget").hidden = false;
      say($("message"), "");
      days = lastThirtyDays();
      await Promise.all([loadUsage(), loadLedger(false)]);
    } catch (err) {
      if (err.status === 401) forget(explain(err));
      else say($("message"), explain(err));
    }
  }

  function guard(fn) {
    return (...args) => fn(...args).catch((err) =>
      err.status === 401 ? forget(explain(err)) : say($("message"), explain(err)));
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    $("api-key").value = "";
    if (!key) return say($("message"), "Paste an API key first.");
    sessionStorage.setItem(KEY, key);
    show();
  });
  $("forget").addEventListener("click", () => forget("The key is forgotten in this tab."));
  $("ledger-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    ledger.filters = Object.fromEntries(new FormData(event.target));
    guard(loadLedger)(false);
  });
  $("ledger-more").addEventListener("click", () => guard(loadLedger)(true));
  $("ledger-csv").addEventListener("click", ledgerCsv);
  $("usage-csv").addEventListener("click", downloadUsage);
  if (sessionStorage.getItem(KEY)) show();
})();
