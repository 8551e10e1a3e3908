// charlstm's network in plain JavaScript: one character at a time through the embedding, the
// LSTM, GRU or RNN layers and the output layer, with the weights model.js holds. No libraries.
//
// The arithmetic is PyTorch's (nn.LSTM gate order i, f, g, o; nn.GRU's r, z, n with r applied to
// W_hn h + b_hn). Weights are Float32Arrays; sums run in doubles, the state is kept in float32 as
// torch keeps it. Layer 0's input term is looked up, not computed: row v of
// Embed @ W_ih^T + b_ih is the term for character v (the same fold charlstm's FastEngine makes).
"use strict";

(function (global) {
  const GATES = { lstm: 4, gru: 3, rnn: 1 };

  function decode(base64) {
    const bin = atob(base64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }

  // out[r] = b[r] + W[r, :] . x for a row-major W[rows, cols]; four sums in flight keep the loop fast
  function matvec(W, b, x, out, rows, cols) {
    for (let r = 0, o = 0; r < rows; r++, o += cols) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, k = 0;
      for (; k + 3 < cols; k += 4) {
        s0 += W[o + k] * x[k];
        s1 += W[o + k + 1] * x[k + 1];
        s2 += W[o + k + 2] * x[k + 2];
        s3 += W[o + k + 3] * x[k + 3];
      }
      for (; k < cols; k++) s0 += W[o + k] * x[k];
      out[r] = b[r] + ((s0 + s1) + (s2 + s3));
    }
  }

  const sigmoid = (v) => 1 / (1 + Math.exp(-v));

  class Net {
    constructor(spec) {
      const c = spec.config;
      this.cell = c.cell;
      this.L = c.layers;
      this.H = c.hidden;
      this.E = c.embed;
      this.V = c.vocab_size;
      this.GH = GATES[c.cell] * c.hidden;
      this.chars = spec.vocab;
      this.normalization = spec.normalization;
      this.stoi = new Map(spec.vocab.map((ch, i) => [ch, i]));
      const all = decode(spec.weights);
      const t = {};
      for (const d of spec.tensors) {
        t[d.name] = all.subarray(d.offset, d.offset + d.shape.reduce((a, b) => a * b, 1));
      }
      this.layers = [];
      for (let l = 0; l < this.L; l++) {
        this.layers.push({ wih: t[`rnn.weight_ih_l${l}`], whh: t[`rnn.weight_hh_l${l}`],
                           bih: t[`rnn.bias_ih_l${l}`], bhh: t[`rnn.bias_hh_l${l}`] });
      }
      this.embedW = t["embed.weight"];
      this.table = new Float32Array(this.V * this.GH);  // V, G*H
      // a styled model: row k of style.bias is what style k adds to layer 0's input term (the
      // export folded the style columns out of W_ih), so a blend is a weighted sum of rows
      this.styles = c.styles || [];
      this.styleBias = t["style.bias"] || null;
      this.baseBias = this.layers[0].bih;
      this.setStyle(this.styles.map(() => 1 / Math.max(1, this.styles.length)));
      this.headW = t["head.weight"];
      this.headB = t["head.bias"];
      this.xs = new Float64Array(this.GH);  // input term of every gate
      this.hs = new Float64Array(this.GH);  // hidden term of every gate
      this.logits = new Float64Array(this.V);  // every out of matvec is a Float64Array: one shape for the JIT
      this.reset();
    }

    // Sample in a blend of the model's styles: one weight per style (scaled to sum to 1); a
    // model without styles ignores it. Rebuilds layer 0's table; the state is kept.
    setStyle(weights) {
      const bias = new Float32Array(this.baseBias);
      const total = weights.reduce((a, b) => a + b, 0);
      if (this.styleBias && total > 0) {
        weights.forEach((w, k) => {
          for (let r = 0; r < this.GH; r++) bias[r] += (w / total) * this.styleBias[k * this.GH + r];
        });
      }
      this.layers[0].bih = bias;
      const row = new Float64Array(this.GH);
      for (let v = 0; v < this.V; v++) {
        matvec(this.layers[0].wih, bias, this.embedW.subarray(v * this.E, (v + 1) * this.E), row, this.GH, this.E);
        this.table.set(row, v * this.GH);
      }
    }

    reset() {
      this.h = Array.from({ length: this.L }, () => new Float32Array(this.H));
      this.c = Array.from({ length: this.L }, () => new Float32Array(this.H));
    }

    // Feed one character id; returns the logits for the next one (a buffer reused by every step).
    step(id) {
      const H = this.H, GH = this.GH, xs = this.xs, hs = this.hs;
      let x = null;
      for (let l = 0; l < this.L; l++) {
        const layer = this.layers[l], h = this.h[l], c = this.c[l];
        if (l === 0) {
          for (let r = 0, o = id * GH; r < GH; r++) xs[r] = this.table[o + r];
        } else {
          matvec(layer.wih, layer.bih, x, xs, GH, H);
        }
        matvec(layer.whh, layer.bhh, h, hs, GH, H);
        if (this.cell === "lstm") {
          for (let j = 0; j < H; j++) {
            const i = sigmoid(xs[j] + hs[j]), f = sigmoid(xs[H + j] + hs[H + j]);
            const g = Math.tanh(xs[2 * H + j] + hs[2 * H + j]), o = sigmoid(xs[3 * H + j] + hs[3 * H + j]);
            c[j] = f * c[j] + i * g;
            h[j] = o * Math.tanh(c[j]);
          }
        } else if (this.cell === "gru") {
          for (let j = 0; j < H; j++) {
            const r = sigmoid(xs[j] + hs[j]), z = sigmoid(xs[H + j] + hs[H + j]);
            const n = Math.tanh(xs[2 * H + j] + r * hs[2 * H + j]);
            h[j] = (1 - z) * n + z * h[j];
          }
        } else {
          for (let j = 0; j < H; j++) h[j] = Math.tanh(xs[j] + hs[j]);
        }
        x = h;
      }
      matvec(this.headW, this.headB, x, this.logits, this.V, H);
      return this.logits;
    }

    // The logits after each of ids[T], from a zero state: T arrays of V numbers.
    logitsOf(ids) {
      this.reset();
      return ids.map((id) => Array.from(this.step(id)));
    }

    // Text to ids after normalization; an unknown character is an error naming it.
    encode(text) {
      if (this.normalization !== "none") text = text.normalize(this.normalization);
      const chars = Array.from(text);  // code points, as the vocabulary holds them
      const unknown = [...new Set(chars.filter((ch) => !this.stoi.has(ch)))];
      if (unknown.length) {
        throw new Error("the prime holds characters the model never saw: " + unknown.map((ch) => JSON.stringify(ch)).join(", "));
      }
      return chars.map((ch) => this.stoi.get(ch));
    }
  }

  // A seeded generator of uniform numbers in [0, 1) (mulberry32): the same seed, the same text.
  function uniforms(seed) {
    let a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // The sampling filter: the softmax of logits / temperature, keeping only the ids at least minP times
  // as likely as the likeliest, then the smallest set of ids that holds topP of the probability.
  // Returns {p, total}: id i's probability is p[i] / total.
  function filtered(logits, temperature, topP, minP = 0) {
    const V = logits.length;
    const p = new Float64Array(V);
    let max = -Infinity;
    for (let i = 0; i < V; i++) max = Math.max(max, logits[i] / temperature);
    let total = 0;
    for (let i = 0; i < V; i++) {
      const q = Math.exp(logits[i] / temperature - max);  // the likeliest id's q is 1
      total += (p[i] = q < minP ? 0 : q);
    }
    if (topP < 1) {
      const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
      let held = 0;
      for (const i of order) {
        if (held >= topP * total) p[i] = 0;  // those ranked above it already hold topP of the mass
        else held += p[i];
      }
      total = held;
    }
    return { p, total };
  }

  // The filtered probabilities as one array (what tests and a console compare with other runtimes).
  function probabilities(logits, temperature, topP, minP = 0) {
    const { p, total } = filtered(logits, temperature, topP, minP);
    return Array.from(p, (v) => v / total);
  }

  // The next id: argmax at temperature 0 (the first, on a tie), else a draw from the filtered
  // probabilities at one uniform number.
  function pick(logits, temperature, topP, random, minP = 0) {
    const V = logits.length;
    if (temperature === 0) {
      let best = 0;
      for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
      return best;
    }
    const { p, total } = filtered(logits, temperature, topP, minP);
    let u = random() * total;
    for (let i = 0; i < V; i++) {
      u -= p[i];
      if (u < 0) return i;
    }
    for (let i = V - 1; i >= 0; i--) if (p[i] > 0) return i;  // rounding left u at the very top
    return V - 1;
  }

  // Generate `length` characters after `prime`, handing text to onText as it comes and yielding
  // to the page every ~40 ms so it stays responsive. Resolves to {chars, seconds}.
  async function generate(net, { prime = "", length = 500, temperature = 1, topP = 1, minP = 0, seed = 0,
                                 onText = () => {}, stopped = () => false }) {
    const random = uniforms(seed);
    let ids = net.encode(prime);
    if (!ids.length) ids = [net.stoi.has("\n") ? net.stoi.get("\n") : Math.floor(random() * net.V)];
    net.reset();
    let logits;
    for (const id of ids) logits = net.step(id);
    const start = performance.now();
    let shown = start, text = "", n = 0;
    for (; n < length && !stopped(); n++) {
      const id = pick(logits, temperature, topP, random, minP);
      text += net.chars[id];
      logits = net.step(id);
      if (performance.now() - shown > 40) {
        onText(text);
        text = "";
        await new Promise((resolve) => setTimeout(resolve, 0));
        shown = performance.now();
      }
    }
    onText(text);
    return { chars: n, seconds: (performance.now() - start) / 1000 };
  }

  global.CharRNN = { Net, generate, pick, probabilities, uniforms };
})(window);
