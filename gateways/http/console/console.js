// The Eventmall console: pages over the process's own JSON API, signed in with an API key
// kept in this tab's session storage. No request leaves this origin.
"use strict";

const KEY = "eventmall.key";
const page = document.getElementById("page");
let me = { role: "anonymous", subject: null };
let timers = [];

// ---- plumbing --------------------------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) element.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const detail = body && (body.detail || body.title) ? body.detail || body.title : response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

const won = (amount) => `${Number(amount || 0).toLocaleString("ko-KR")}원`;
const number = (value) => (value === null || value === undefined ? "–" : Number(value).toLocaleString("ko-KR"));
const day = (date) => date.toISOString().slice(0, 10);

function panel(title, ...children) {
  return h("section", { class: "panel" }, h("h2", {}, title), ...children);
}

function failure(error) {
  return h("p", { class: "error" }, String(error.message || error));
}

function table(columns, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map(([label, , numeric]) => h("th", { class: numeric ? "num" : null }, label)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell, numeric]) => h("td", { class: numeric ? "num" : null }, cell(row)))))));
}

function every(milliseconds, task) {
  task();
  timers.push(setInterval(task, milliseconds));
}

// A line chart of `series` (name → values) over `times` (seconds), drawn with uPlot. Series
// named in `right` get a scale of their own on the right, so a count is not flattened beside
// an amount in won; the time axis spans at least `window` seconds.
function chart(target, title, times, series, { right = [], window = 0, height = 220 } = {}) {
  target.replaceChildren();
  const names = Object.keys(series);
  const colours = ["#0b63ce", "#1f883d", "#bf8700", "#8250df", "#cf222e"];
  const numbers = (u, ticks) => ticks.map((v) => number(v));
  const axes = [{}, { size: 80, values: numbers }];
  if (right.length) axes.push({ scale: "right", side: 1, size: 50, values: numbers, grid: { show: false } });
  const options = {
    title, width: Math.max(target.clientWidth, 320), height, axes,
    scales: { x: { time: true, range: (u, min, max) => [Math.min(min, max - window), max] } },
    series: [{}, ...names.map((name, i) => ({
      label: name, stroke: colours[i % colours.length], width: 2,
      scale: right.includes(name) ? "right" : "y",
    }))],
  };
  return new uPlot(options, [times, ...names.map((name) => series[name])], target);
}

// ---- sign-in ---------------------------------------------------------------------------

async function whoAmI() {
  try {
    me = await api("/v1/me");
  } catch (error) {
    me = { role: "anonymous", subject: null, error: String(error.message) };
  }
  const who = document.getElementById("who");
  who.textContent = me.role === "anonymous" ? "not signed in" : `${me.role}${me.subject ? " " + me.subject : ""}`;
}

document.getElementById("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("key");
  if (input.value.trim()) sessionStorage.setItem(KEY, input.value.trim());
  input.value = "";
  await whoAmI();
  route();
});
document.getElementById("sign-out").addEventListener("click", async () => {
  sessionStorage.removeItem(KEY);
  await whoAmI();
  route();
});

// ---- search (anyone) -------------------------------------------------------------------

async function searchPage(params) {
  const query = params.get("q") || "";
  const input = h("input", { type: "search", value: query, placeholder: "상품 검색 — 무선청소기, ㅅㅁ, 갤럭시…", "aria-label": "Search" });
  const form = h("form", { class: "search-bar", onsubmit: (event) => {
    event.preventDefault();
    location.hash = `#/search?q=${encodeURIComponent(input.value)}`;
  } }, input, h("button", { type: "submit" }, "Search"));
  page.replaceChildren(h("h1", {}, "Search"), form);
  if (!query) {
    page.append(h("p", { class: "muted" }, "Type a query: Korean, Latin, 초성 or a model number."));
    return;
  }
  const search = new URLSearchParams({ q: query, limit: "20" });
  for (const facet of ["category", "brand"]) if (params.get(facet)) search.set(facet, params.get(facet));
  let results;
  try {
    results = await api(`/v1/search?${search}`);
  } catch (error) {
    page.append(failure(error));
    return;
  }
  const facetLinks = (name, counts) => h("div", { class: "facet panel" }, h("h2", {}, name === "category" ? "Categories" : "Brands"),
    counts.map(({ value, count }) => {
      const next = new URLSearchParams(params);
      const on = params.get(name) === value;
      if (on) next.delete(name); else next.set(name, value);
      return h("a", { href: `#/search?${next}`, class: on ? "on" : null }, h("span", {}, value), h("span", { class: "muted" }, count));
    }));
  const hits = results.hits.map((hit) => {
    const title = h("div", { class: "title" });
    title.innerHTML = hit.highlight; // HTML-escaped by the server, with <b> around matches
    const product = hit.product;
    return h("div", { class: "hit" }, title,
      h("div", { class: "meta" }, [product.brand, (product.category || []).join(" › "), product.partner_id].filter(Boolean).join(" · ")),
      h("div", {}, h("span", { class: "price" }, won(product.price && product.price.amount !== undefined ? product.price.amount : product.price)),
        " ", product.in_stock === false || product.stock === 0 ? h("span", { class: "badge bad" }, "품절") : null));
  });
  page.append(h("p", { class: "muted" }, `${number(results.total)} products`),
    h("div", { class: "results" }, h("div", {}, facetLinks("category", results.categories), facetLinks("brand", results.brands)),
      h("div", { class: "panel" }, hits.length ? hits : h("p", { class: "muted" }, "Nothing found."))));
}

// ---- partner ---------------------------------------------------------------------------

async function partnerPage(params) {
  const partner = me.role === "partner" ? me.subject : params.get("id");
  page.replaceChildren(h("h1", {}, `Partner ${partner || ""}`));
  if (!partner) {
    const input = h("input", { placeholder: "partner id", "aria-label": "Partner" });
    page.append(h("form", { class: "row", onsubmit: (event) => {
      event.preventDefault();
      location.hash = `#/partner?id=${encodeURIComponent(input.value)}`;
    } }, input, h("button", {}, "Open")), h("p", { class: "muted" }, "Sign in with a partner key, or as an admin name a partner."));
    return;
  }
  const base = `/v1/partners/${encodeURIComponent(partner)}`;
  // Days and months are Seoul's, as the read models count them.
  const today = new Date(Date.now() + 9 * 3600000);
  const from = new Date(today.getTime() - 29 * 86400000);
  const month = day(today).slice(0, 7);
  const salesChart = h("div", { id: "sales-chart" });
  const sections = {
    sales: panel("Daily sales, last 30 days", salesChart),
    settlement: panel(`Settlement ${month}`),
    orders: panel("Order queue"),
    feeds: panel("Feed runs"),
  };
  page.append(h("div", { class: "grid" }, sections.sales, sections.settlement), sections.orders, sections.feeds);
  const load = async (section, task) => {
    try {
      await task();
    } catch (error) {
      sections[section].append(failure(error));
    }
  };
  await Promise.all([
    load("sales", async () => {
      const report = await api(`${base}/sales?from=${day(from)}&to=${day(today)}`);
      const days = [];
      for (let t = from.getTime(); t <= today.getTime(); t += 86400000) days.push(day(new Date(t)));
      const gross = Object.fromEntries(report.days.map((d) => [d.day, d.gross]));
      const orders = Object.fromEntries(report.days.map((d) => [d.day, d.orders]));
      const times = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
      chart(salesChart, "Gross (원, left) and orders (right)", times, {
        gross: days.map((d) => gross[d] || 0),
        orders: days.map((d) => orders[d] || 0),
      }, { right: ["orders"] });
      const sold = report.days.length;
      sections.sales.append(h("p", { class: "muted" }, `${sold} ${sold === 1 ? "day" : "days"} with sales`));
    }),
    load("settlement", async () => {
      const settlements = await api(`${base}/settlements?month=${month}`);
      if (!settlements.length) sections.settlement.append(h("p", { class: "muted" }, "No sales this month."));
      for (const settlement of settlements) sections.settlement.append(h("div", { class: "stat" },
        h("div", {}, h("b", {}, won(settlement.sales.gross)), "gross"),
        h("div", {}, h("b", {}, won(settlement.commission)), `commission (${settlement.commission_rate_bp / 100}%)`),
        h("div", {}, h("b", {}, won(settlement.payout)), "payout"),
        h("div", {}, h("b", {}, number(settlement.sales.orders)), "orders")));
    }),
    load("orders", async () => {
      const queue = await api(`${base}/orders?limit=20`);
      const orders = queue.orders || queue.items || queue;
      sections.orders.append(table([
        ["order", (o) => o.order_id],
        ["status", (o) => h("span", { class: "badge" }, o.status)],
        ["customer", (o) => o.customer_id],
        ["placed", (o) => (o.placed_at || "").replace("T", " ").slice(0, 16)],
        ["total", (o) => won(o.total && o.total.amount !== undefined ? o.total.amount : o.total), true],
      ], orders));
    }),
    load("feeds", async () => {
      const runs = await api(`${base}/feeds`);
      const list = runs.runs || runs;
      const detail = h("div");
      sections.feeds.append(table([
        ["run", (r) => h("a", { href: "#", onclick: async (event) => {
          event.preventDefault();
          const run = await api(`${base}/feeds/${r.run_id}`);
          const rejections = run.rejections;
          detail.replaceChildren(h("h2", {}, `Rejected lines of ${r.run_id}`),
            rejections.length ? table([["line", (x) => x.line, true], ["reason", (x) => x.reason]], rejections) : h("p", { class: "muted" }, "None."));
        } }, r.run_id.slice(0, 8))],
        ["format", (r) => r.format],
        ["status", (r) => h("span", { class: `badge ${r.status === "completed" ? "ok" : r.status === "failed" ? "bad" : "warn"}` }, r.status)],
        ["read", (r) => number(r.rows_read), true],
        ["registered", (r) => number(r.registered), true],
        ["rejected", (r) => number(r.rejected), true],
      ], list), detail);
    }),
  ]);
}

// ---- operations (admin) ----------------------------------------------------------------

const lagHistory = { times: [], series: {} };

async function operationsPage() {
  page.replaceChildren(h("h1", {}, "Operations"));
  const relay = panel("Relay");
  const lagChart = h("div", { id: "lag-chart" });
  const projections = panel("Projections", lagChart, h("div", { id: "projection-table" }));
  const generations = panel("Generations and rebuilds", h("div", { id: "generations" }));
  page.append(h("div", { class: "grid" }, relay, generations), projections);
  every(2000, async () => {
    try {
      const relays = await api("/v1/relay");
      relay.replaceChildren(h("h2", {}, "Relay"), table([
        ["name", (r) => r.name],
        ["published", (r) => number(r.published_position), true],
        ["lag (events)", (r) => number(r.lag_events), true],
        ["lag (s)", (r) => (r.lag_seconds || 0).toFixed(1), true],
        ["holder", (r) => h("span", { class: "muted" }, r.holder)],
      ], relays));
      const statuses = await api("/v1/projections");
      const now = Date.now() / 1000;
      lagHistory.times.push(now);
      for (const status of statuses) {
        const series = (lagHistory.series[status.name] ||= lagHistory.times.slice(0, -1).map(() => null));
        series.push(status.lag);
      }
      for (const series of Object.values(lagHistory.series)) while (series.length < lagHistory.times.length) series.push(null);
      if (lagHistory.times.length > 300) {
        lagHistory.times.shift();
        for (const series of Object.values(lagHistory.series)) series.shift();
      }
      chart(lagChart, "Lag (records behind), sampled every 2 s", lagHistory.times, lagHistory.series, { window: 60 });
      document.getElementById("projection-table").replaceChildren(table([
        ["projection", (p) => p.name],
        ["generation", (p) => p.generation, true],
        ["lag", (p) => number(p.lag), true],
        ["state", (p) => (p.error ? h("span", { class: "badge bad" }, p.error) : h("span", { class: "badge ok" }, "ok"))],
      ], statuses));
    } catch (error) {
      relay.replaceChildren(h("h2", {}, "Relay"), failure(error));
    }
  });
  await showGenerations();
}

async function showGenerations() {
  const target = document.getElementById("generations");
  if (!target) return;
  const rows = [];
  for (const name of ["order-views", "search", "recommendations"]) {
    try {
      rows.push({ name, detail: await api(`/v1/admin/projections/${name}`) });
    } catch (error) {
      rows.push({ name, error });
    }
  }
  const act = (name, action) => async (event) => {
    event.target.disabled = true;
    try {
      const answer = await api(`/v1/admin/projections/${name}/${action}`, { method: "POST", body: {} });
      if (action === "rebuilds") await follow(name, answer.id || answer.rebuild_id);
    } catch (error) {
      target.append(failure(error));
    }
    await showGenerations();
  };
  target.replaceChildren(table([
    ["projection", (r) => r.name],
    ["generations", (r) => (r.error ? failure(r.error) : (r.detail.generations || []).map((g) => h("span", { class: `badge ${g.state === "live" ? "ok" : ""}` }, `${g.generation} ${g.state}`)))],
    ["last rebuild", (r) => {
      const last = r.detail && (r.detail.rebuilds || []).at(-1);
      return last ? `${last.id.slice(0, 8)} → ${last.generation}: ${last.state}` : "–";
    }],
    ["", (r) => h("span", {},
      h("button", { onclick: act(r.name, "rebuilds"), "data-action": `rebuild-${r.name}` }, "Rebuild"), " ",
      h("button", { class: "quiet-dark", onclick: act(r.name, "swap") }, "Swap"), " ",
      h("button", { class: "quiet-dark", onclick: act(r.name, "rollback") }, "Roll back"))],
  ], rows), h("div", { id: "rebuild-progress", class: "muted" }));
}

async function follow(name, id) {
  const progress = document.getElementById("rebuild-progress");
  for (;;) {
    const rebuild = await api(`/v1/admin/projections/${name}/rebuilds/${id}`);
    if (progress) progress.textContent = `rebuild ${id} of ${name}: ${rebuild.state} ${JSON.stringify(rebuild.progress || "")}`;
    if (!["running", "started", "pending"].includes(rebuild.state)) return rebuild;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// ---- dead letters (admin) --------------------------------------------------------------

async function deadLettersPage() {
  page.replaceChildren(h("h1", {}, "Dead letters"));
  let letters;
  try {
    letters = await api("/v1/admin/dead-letters?limit=100");
  } catch (error) {
    page.append(failure(error));
    return;
  }
  const shown = h("div");
  page.append(h("p", { class: "muted" }, `${number(letters.letters.length)} shown of ${number(letters.total)}`),
    panel("Letters", table([
      ["where", (l) => `${l.partition}/${l.offset}`],
      ["stage", (l) => h("span", { class: "badge" }, l.stage)],
      ["reason", (l) => l.reason],
      ["source", (l) => (l.source_topic ? `${l.source_topic} ${l.source_partition}/${l.source_offset}` : "–")],
      ["", (l) => h("span", {},
        h("button", { class: "quiet-dark", onclick: async () => {
          const letter = await api(`/v1/admin/dead-letters/${l.partition}/${l.offset}`);
          shown.replaceChildren(panel(`Letter ${l.partition}/${l.offset}`, h("pre", {}, JSON.stringify(letter, null, 2))));
        } }, "Show"), " ",
        l.stage === "feed" ? null : h("button", { "data-retry": `${l.partition}/${l.offset}`, onclick: async (event) => {
          event.target.disabled = true;
          try {
            await api(`/v1/admin/dead-letters/${l.partition}/${l.offset}/retry`, { method: "POST", body: {} });
            await deadLettersPage();
          } catch (error) {
            event.target.after(failure(error));
          }
        } }, "Retry"))],
    ], letters.letters)), shown);
}

// ---- registry (anyone may read) --------------------------------------------------------

async function registryPage() {
  page.replaceChildren(h("h1", {}, "Schema registry"));
  try {
    const subjects = await api("/subjects");
    const rows = await Promise.all(subjects.sort().map(async (subject) => ({
      subject, versions: await api(`/subjects/${encodeURIComponent(subject)}/versions`),
    })));
    page.append(panel(`${subjects.length} subjects`, table([
      ["subject", (r) => r.subject],
      ["versions", (r) => r.versions.join(", ")],
      ["latest", (r) => h("a", { href: "#", onclick: async (event) => {
        event.preventDefault();
        const latest = await api(`/subjects/${encodeURIComponent(r.subject)}/versions/latest`);
        event.target.replaceWith(h("pre", {}, JSON.stringify(JSON.parse(latest.schema), null, 2)));
      } }, "schema")],
    ], rows)));
  } catch (error) {
    page.append(failure(error));
  }
}

// ---- latest events of a topic (admin) --------------------------------------------------

const TOPICS = ["eventmall.orders.v1", "eventmall.payments.v1", "eventmall.products.v1",
  "eventmall.ingest.products.v1", "eventmall.ingest.shipments.v1", "eventmall.dead-letter.v1"];

async function eventsPage(params) {
  const topic = params.get("topic") || TOPICS[0];
  const picker = h("select", { "aria-label": "Topic", onchange: (event) => {
    location.hash = `#/events?topic=${encodeURIComponent(event.target.value)}`;
  } }, TOPICS.map((name) => h("option", { value: name, selected: name === topic ? "selected" : null }, name)));
  page.replaceChildren(h("h1", {}, "Latest events"), h("div", { class: "row" }, picker, h("span", { class: "muted" }, "the last 10 of each partition, decoded through the registry")));
  try {
    const records = await api(`/v1/admin/topics/${encodeURIComponent(topic)}/latest?limit=10`);
    records.sort((a, b) => b.timestamp - a.timestamp);
    page.append(panel(`${records.length} records`, table([
      ["when", (r) => new Date(r.timestamp).toISOString().replace("T", " ").slice(0, 19)],
      ["where", (r) => `${r.partition}/${r.offset}`],
      ["type", (r) => h("span", { class: "badge" }, (r.headers && r.headers.event_type) || "–")],
      ["key", (r) => h("span", { class: "muted" }, r.key)],
      ["value", (r) => h("pre", {}, JSON.stringify(r.value === null ? r.value_error || null : r.value, null, 1))],
    ], records)));
  } catch (error) {
    page.append(failure(error));
  }
}

// ---- routing ---------------------------------------------------------------------------

const pages = {
  search: searchPage,
  partner: partnerPage,
  operations: operationsPage,
  "dead-letters": deadLettersPage,
  registry: registryPage,
  events: eventsPage,
};

async function route() {
  timers.forEach(clearInterval);
  timers = [];
  const [path, query] = (location.hash.slice(2) || "search").split("?");
  const name = pages[path] ? path : "search";
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.page === name);
  document.body.dataset.page = name;
  document.body.dataset.ready = "false";
  try {
    await pages[name](new URLSearchParams(query || ""));
  } catch (error) {
    page.append(failure(error));
  }
  document.body.dataset.ready = "true";
}

window.addEventListener("hashchange", route);
whoAmI().then(route);
