// The page's controls: read the prime and settings, stream the sample into the page, report
// chars/s. window.charlstm is what a test or a console can call: logits(ids), generate(options).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const spec = window.CHARLSTM_MODEL;
  const status = (text) => { $("status").textContent = text; };
  if (!spec) {
    status("model.js did not load: keep it in the same folder as this page.");
    document.body.dataset.state = "error";
    return;
  }
  const net = new CharRNN.Net(spec);
  const c = spec.config, run = spec.lineage || {};
  $("about").textContent = `${run.run_name || "model"}: ${c.layers} x ${c.hidden} ${c.cell.toUpperCase()}, ` +
    `${c.vocab_size} characters` + (run.step ? `, ${run.step.toLocaleString()} steps` : "");
  let running = false, stop = false;
  // a styled model: a picker of its styles, plus every style alike (the default)
  const picker = $("style");
  if (net.styles.length) {
    picker.append(new Option("every style alike", ""));
    net.styles.forEach((name) => picker.append(new Option(name, name)));
    $("styles").hidden = false;
  }
  const styleWeights = () => net.styles.map((name) => (picker.value === "" || picker.value === name ? 1 : 0));

  async function start() {
    if (running) { stop = true; return; }
    const prime = $("prime").value.replace(/\\([nt\\])/g, (_, e) => ({ n: "\n", t: "\t", "\\": "\\" })[e]);
    const seedText = $("seed").value.trim();
    const options = {
      prime, length: Number($("length").value), temperature: Number($("temp").value),
      topP: Number($("topp").value), minP: Number($("minp").value), seed: seedText === "" ? Math.floor(Math.random() * 2 ** 32) : Number(seedText),
    };
    if (!(options.length >= 0 && options.temperature >= 0 && options.topP > 0 && options.topP <= 1
          && options.minP >= 0 && options.minP <= 1)) {
      status("need length >= 0, temperature >= 0, top-p in (0, 1] and min-p in [0, 1]");
      return;
    }
    const out = $("output");
    net.setStyle(styleWeights());
    out.textContent = net.normalization === "none" ? prime : prime.normalize(net.normalization);
    running = true; stop = false;
    $("go").textContent = "Stop";
    document.body.dataset.state = "running";
    status(`sampling (seed ${options.seed})`);
    try {
      const r = await CharRNN.generate(net, { ...options, onText: (t) => out.append(t), stopped: () => stop });
      const rate = r.seconds > 0 ? r.chars / r.seconds : 0;
      window.charlstm.last = { ...r, rate };
      status(`${r.chars} characters in ${r.seconds.toFixed(2)} s (${rate.toFixed(0)} chars/s), seed ${options.seed}`);
      document.body.dataset.state = "done";
    } catch (e) {
      status(e.message);
      document.body.dataset.state = "error";
    } finally {
      running = false;
      $("go").textContent = "Generate";
    }
  }

  $("go").addEventListener("click", start);
  window.charlstm = {
    net,
    logits: (ids) => net.logitsOf(ids),
    generate: (options) => CharRNN.generate(net, options),
    setStyle: (weights) => net.setStyle(weights),
    last: null,
  };
  document.body.dataset.state = "ready";
  status("ready");
})();
