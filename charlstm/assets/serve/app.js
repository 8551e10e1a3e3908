// charlstm playground: the page's behaviour, no framework. Text from the model (and from run
// metadata) only ever enters the page through textContent, never innerHTML, so it stays text.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const KEYS = ["run_name", "name", "run", "path"]; // how a lineage entry may name its run

  // rows are [char, p, [top chars], [top p], activation, [gates]], as the server sends them
  const view = {
    gen: { rows: [], context: "", run: null, asked: null, gates: [], id: null },
    insp: { rows: [], text: "", run: null, asked: null, gates: [] },
    card: null, controller: null,
  };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const setStatus = (msg) => { $("status").textContent = msg || ""; };
  const pct = (p) => (p * 100).toFixed(p >= 0.1 ? 1 : 2) + "%";
  const num = (n) => Number(n).toLocaleString("en");

  async function api(path, body) {
    const opts = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    const res = await fetch(path, opts);
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
    return data;
  }

  // ---- runs and the run card ------------------------------------------------------------------
  async function loadRuns() {
    const data = await api("/api/runs");
    const sel = $("run");
    sel.replaceChildren(...data.runs.map((r) => { const o = el("option", null, r.id); o.value = r.id; return o; }));
    $("length").max = data.limits.length;
    if (!data.runs.length) setStatus("no runs found: train one with charlstm train CORPUS, then reload");
    else await loadCard();
  }

  async function loadCard() {
    try {
      view.card = await api("/api/card?run=" + encodeURIComponent($("run").value));
      showCard(view.card);
      setStatus("");
    } catch (e) { setStatus(e.message); }
  }

  function duration(s) {
    if (s == null) return "";
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
    return h ? `${h}h ${String(m).padStart(2, "0")}m` : m ? `${m}m ${String(sec).padStart(2, "0")}s` : `${sec}s`;
  }

  function showCard(c) {
    $("card").hidden = false;
    $("card-name").textContent = c.name;
    const trained = [`${num(c.step ?? 0)} steps`, c.epoch != null ? `${c.epoch.toFixed(2)} epochs` : null,
      duration(c.train_time) || null].filter(Boolean).join(", ");
    const loss = c.best_val_loss == null ? "not measured"
      : `${c.best_val_loss.toFixed(4)} nats/char (${(c.best_val_loss / Math.LN2).toFixed(3)} bits/char)`;
    const facts = [
      ["model", `${c.cell.toUpperCase()} ${c.layers} × ${c.hidden}, embed ${c.embed}`],
      ["parameters", num(c.params)], ["vocabulary", `${c.vocab_size} characters`],
      ["corpus", c.corpus.paths.join(", ") + (c.corpus.tokens ? ` (${num(c.corpus.tokens)} characters)` : "")],
      ["trained", trained], ["best val loss", loss],
      ["checkpoint", c.checkpoint + (c.saved_at ? `, saved ${c.saved_at}` : "")],
    ];
    if (c.styles.length) {
      facts.push(["styles", c.styles.map((st) => st.name + (st.share != null ? ` ${Math.round(st.share * 100)}%` : "") +
        (st.val_loss != null ? ` (val ${st.val_loss.toFixed(3)})` : "")).join(", ")]);
    }
    const picker = $("style");
    picker.replaceChildren(new Option("every style alike", ""), ...c.styles.map((st) => new Option(st.name, st.name)));
    $("style-row").hidden = !c.styles.length;
    $("card-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", null, k), el("dd", null, v)]));
    const lin = $("lineage");
    lin.replaceChildren();
    if (c.lineage.length) {
      lin.append(el("h3", null, "Fine-tuned from (nearest first)"));
      const ol = el("ol");
      ol.append(...c.lineage.map((d) => el("li", null, ancestor(d))));
      lin.append(ol);
    }
    $("layer").max = c.layers - 1;
    $("unit").max = c.hidden - 1;
    $("state").querySelector("option[value=c]").disabled = c.cell !== "lstm";
    if (c.cell !== "lstm") $("state").value = "h";
    drawCurves(c.curves);
  }

  function ancestor(d) {
    if (typeof d !== "object" || d === null) return String(d);
    const name = KEYS.map((k) => d[k]).find((v) => v != null) ?? "a run";
    const rest = Object.entries(d).filter(([k, v]) => !KEYS.includes(k) && v !== null && typeof v !== "object")
      .map(([k, v]) => `${k.replaceAll("_", " ")} ${typeof v === "number" && !Number.isInteger(v) ? v.toFixed(4) : v}`);
    return rest.length ? `${name} (${rest.join(", ")})` : String(name);
  }

  function drawCurves({ train, val }) {
    const box = $("curves"), W = 320, H = 190, L = 40, R = 10, T = 10, B = 26;
    box.replaceChildren();
    const pts = train.concat(val);
    if (!pts.length) { box.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no metrics logged")); return; }
    let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
    let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
    if (x1 === x0) x1 = x0 + 1;
    if (y1 - y0 < 1e-6) { y0 -= 0.5; y1 += 0.5; }
    const sx = (x) => (L + (x - x0) / (x1 - x0) * (W - L - R)).toFixed(1);
    const sy = (y) => (T + (1 - (y - y0) / (y1 - y0)) * (H - T - B)).toFixed(1);
    for (let i = 0; i <= 4; i++) {
      const y = y0 + (y1 - y0) * i / 4;
      box.append(svg("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), class: "grid" }));
      box.append(svg("text", { x: L - 4, y: Number(sy(y)) + 3, "text-anchor": "end" }, y.toFixed(2)));
    }
    box.append(svg("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }));
    box.append(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
    box.append(svg("text", { x: L, y: H - 8 }, `step ${num(x0)}`));
    box.append(svg("text", { x: W - R, y: H - 8, "text-anchor": "end" }, `step ${num(x1)}`));
    const line = (p) => p.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ");
    if (train.length) box.append(svg("polyline", { points: line(train), class: "train" }));
    if (val.length) box.append(svg("polyline", { points: line(val), class: "val" }));
    for (const [x, y] of val) box.append(svg("circle", { cx: sx(x), cy: sy(y), r: 2.4, class: "dot" }));
  }

  // ---- colouring and the hover card ------------------------------------------------------------
  const mode = () => document.querySelector("input[name=mode]:checked").value;
  const probe = () => ({ layer: $("layer").value.trim(), unit: $("unit").value.trim(), state: $("state").value });
  // a styled run: the picked style, or the blend typed beside it ({} for every style alike)
  const styleChoice = () => {
    const v = $("style-blend").value.trim() || $("style").value;
    return v ? { style: v } : {};
  };
  const sameProbe = (a, b) => a && b && a.layer === b.layer && a.unit === b.unit && a.state === b.state;

  function actColour(v) {
    const a = Math.min(1, Math.abs(v)).toFixed(3);
    return v >= 0 ? `rgba(214,39,40,${a})` : `rgba(31,119,180,${a})`;
  }
  function paint(span, r) {
    if (mode() === "p") span.style.backgroundColor = r[1] == null ? "" : `rgba(220,38,38,${(0.85 * (1 - r[1])).toFixed(3)})`;
    else span.style.backgroundColor = actColour(r[4]);
  }

  function appendRows(box, target, rows) {
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const s = el("span", r[0] === "\n" ? "c nl" : "c", r[0]);
      s.dataset.i = target.rows.length;
      target.rows.push(r);
      paint(s, r);
      frag.append(s);
    }
    box.append(frag);
  }

  function showLegend() {
    const box = $("legend"), p = probe();
    if (mode() === "p") {
      box.replaceChildren(el("span", null, "unlikely"), el("span", "bar p"), el("span", null, "likely (the model's probability for each character)"));
    } else {
      box.replaceChildren(el("span", null, "−1"), el("span", "bar act"),
        el("span", null, `+1: ${p.state === "c" ? "tanh(c)" : "h"} of layer ${p.layer}, unit ${p.unit}`));
    }
  }

  let refreshTimer = null;
  function recolour() {
    showLegend();
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      if (mode() === "act") {
        try { await refresh("gen"); await refresh("insp"); setStatus(""); } catch (e) { setStatus(e.message); }
      }
      for (const [which, id] of [["gen", "out-gen"], ["insp", "inspect-out"]]) {
        for (const s of $(id).children) paint(s, view[which].rows[s.dataset.i]);
      }
    }, 250);
  }

  async function refresh(which) {
    // another cell asked for: retrace the shown text from the start (the context the generation was fed included)
    const t = view[which], p = probe();
    if (!t.rows.length || sameProbe(t.asked, p) || (which === "gen" && view.controller)) return;
    // the served model is not the adapted one: its cells would not be the ones that wrote this text
    if (which === "gen" && t.adapted) throw new Error("generate again to see another cell of an adapted text");
    const text = which === "gen" ? t.context + t.rows.map((r) => r[0]).join("") : t.text;
    const data = await api("/api/inspect", { run: t.run, text, ...p, ...t.style });
    if (data.chars.length < t.rows.length) throw new Error("could not retrace the text for that cell");
    data.chars.slice(data.chars.length - t.rows.length).forEach((r, i) => { t.rows[i][4] = r[4]; t.rows[i][5] = r[5]; });
    t.asked = p;
    t.gates = data.gates;
  }

  function describe(ch) {
    return { "\n": "↵ line break", " ": "␣ space", "\t": "⇥ tab" }[ch] ?? `“${ch}”`;
  }

  function meterRow(label, value, width, cls) {
    const tr = el("tr", cls);
    const bar = el("span", "meter");
    bar.style.width = `${Math.round(Math.min(1, Math.abs(value)) * width)}px`;
    tr.append(el("td", "ch", label), el("td", null), el("td", "num", value.toFixed(3)));
    tr.children[1].append(bar);
    return tr;
  }

  function showTip(ev) {
    const s = ev.target.closest ? ev.target.closest("span.c") : null;
    const tip = $("tip");
    if (!s) { tip.hidden = true; return; }
    const t = view[s.parentElement.dataset.view], r = t.rows[s.dataset.i];
    const head = r[1] == null ? `${describe(r[0])}: the first character, nothing predicted it`
      : `${describe(r[0])}: p ${pct(r[1])}`;
    const top = el("table");
    r[2].forEach((ch, k) => {
      const tr = meterRow(describe(ch), r[3][k], 80, ch === r[0] ? "picked" : null);
      tr.children[2].textContent = pct(r[3][k]);
      top.append(tr);
    });
    const p = t.asked || probe();
    const cell = el("div", "sep", `layer ${p.layer}, unit ${p.unit}: ${p.state === "c" ? "tanh(c)" : "h"} ${r[4].toFixed(3)}`);
    const gates = el("table", "gate");
    t.gates.forEach((g, k) => gates.append(meterRow(g, r[5][k], 60, "gate")));
    tip.replaceChildren(el("h4", null, head), r[2].length ? el("div", null, "most likely here:") : "", top, cell, gates);
    tip.hidden = false;
    const x = Math.min(ev.clientX + 16, window.innerWidth - tip.offsetWidth - 8);
    const y = ev.clientY + 18 + tip.offsetHeight > window.innerHeight ? ev.clientY - tip.offsetHeight - 12 : ev.clientY + 18;
    tip.style.left = `${Math.max(4, x)}px`;
    tip.style.top = `${Math.max(4, y)}px`;
  }

  // ---- generation: server-sent events read from a POST -----------------------------------------
  function options() {
    const body = { run: $("run").value, prime: $("prime").value, temperature: Number($("temp").value),
      skip_unknown: $("skip").checked, ...probe(), ...styleChoice() };
    if ($("adapt").value.trim()) body.adapt = $("adapt").value;
    // whole numbers go as typed: the server checks them (and seeds above 2**53 survive)
    for (const [key, id] of [["length", "length"], ["top_k", "topk"], ["seed", "seed"]]) {
      const v = $(id).value.trim();
      if (v) body[key] = v;
    }
    const topp = Number($("topp").value);
    if (topp < 1) body.top_p = topp;
    const minp = Number($("minp").value);
    if (minp > 0) body.min_p = minp;
    return body;
  }

  async function readEvents(stream, onEvent) {
    const reader = stream.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let name = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        onEvent(name, JSON.parse(data));
      }
    }
  }

  function setBusy(busy) {
    document.body.dataset.state = busy ? "generating" : "idle";
    $("generate").disabled = busy;
    $("stop").disabled = !busy;
  }

  async function generate(ev) {
    ev.preventDefault();
    if (view.controller) return;
    const body = options();
    const box = $("out-gen"), info = $("gen-info");
    box.replaceChildren();
    $("out-prime").textContent = "";
    const g = view.gen = { rows: [], context: "", run: body.run, asked: probe(), gates: [], id: null, seed: "",
      adapted: Boolean(body.adapt), style: body.style ? { style: body.style } : {} };
    const controller = view.controller = new AbortController();
    setBusy(true);
    setStatus("");
    info.textContent = "starting…";
    let first = null, end = null;
    const handle = {
      adapting: (d) => { info.textContent = `adapting to ${num(d.chars)} characters…`; },
      adapted: (d) => { setStatus(`adapted to ${num(d.chars)} characters (${d.loss.toFixed(3)} nats/char while reading)`); },
      start: (d) => { g.context = d.context; g.gates = d.gates; g.seed = d.seed; $("out-prime").textContent = d.prime; },
      chars: (rows) => {
        first = first ?? performance.now();
        appendRows(box, g, rows);
        info.textContent = `seed ${g.seed} · ${num(g.rows.length)} characters…`;
      },
      error: (d) => setStatus(d.error),
      end: (d) => { end = d; },
    };
    try {
      const res = await fetch("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body), signal: controller.signal });
      if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error || `HTTP ${res.status}`);
      g.id = res.headers.get("X-Generation-Id");
      await readEvents(res.body, (name, data) => handle[name] && handle[name](data));
    } catch (e) {
      if (e.name !== "AbortError") setStatus(e.message);
    } finally {
      view.controller = null;
      setBusy(false);
      const secs = first ? (performance.now() - first) / 1000 : 0;
      const rate = secs > 0.05 ? ` · ${num(Math.round(g.rows.length / secs))} chars/s` : "";
      const how = end && end.reason === "length" ? "done" : g.rows.length || end ? "stopped" : "failed";
      info.textContent = g.seed ? `${how}: ${num(g.rows.length)} characters · seed ${g.seed}${rate}` : how;
    }
  }

  function stop() {
    const id = view.gen.id;
    if (id) api("/api/stop", { id }).catch(() => {}); // it may have just finished: nothing to stop
    if (view.controller) view.controller.abort(); // closing the stream stops it on the server too
  }

  async function inspectText() {
    const text = $("inspect-text").value, run = $("run").value, p = probe();
    $("inspect-info").textContent = "tracing…";
    try {
      const style = styleChoice();
      const data = await api("/api/inspect", { run, text, ...p, ...style });
      view.insp = { rows: [], text, run, asked: p, gates: data.gates, style };
      $("inspect-out").replaceChildren();
      appendRows($("inspect-out"), view.insp, data.chars);
      const skipped = [...text.normalize("NFC")].length - data.chars.length;
      $("inspect-info").textContent = `${num(data.chars.length)} characters` +
        (skipped > 0 ? ` (${num(skipped)} the model never saw were left out)` : "");
      setStatus("");
    } catch (e) {
      $("inspect-info").textContent = "";
      setStatus(e.message);
    }
  }

  // ---- wiring ------------------------------------------------------------------------------------
  $("out-gen").dataset.view = "gen";
  $("inspect-out").dataset.view = "insp";
  $("temp").addEventListener("input", () => { $("temp-value").textContent = Number($("temp").value).toFixed(2); });
  $("topp").addEventListener("input", () => {
    const v = Number($("topp").value);
    $("topp-value").textContent = v >= 1 ? "off" : v.toFixed(2);
  });
  $("minp").addEventListener("input", () => {
    const v = Number($("minp").value);
    $("minp-value").textContent = v <= 0 ? "off" : v.toFixed(2);
  });
  $("run").addEventListener("change", loadCard);
  $("controls").addEventListener("submit", generate);
  $("stop").addEventListener("click", stop);
  $("inspect").addEventListener("click", inspectText);
  for (const e of document.querySelectorAll("input[name=mode]")) e.addEventListener("change", recolour);
  for (const id of ["layer", "unit", "state"]) $(id).addEventListener("change", recolour);
  for (const id of ["out-gen", "inspect-out"]) {
    $(id).addEventListener("mousemove", showTip);
    $(id).addEventListener("mouseleave", () => { $("tip").hidden = true; });
  }
  showLegend();
  loadRuns().catch((e) => setStatus(e.message));
})();
