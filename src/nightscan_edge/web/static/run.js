// Live run page: follows the run's event log over a WebSocket (resuming from the last event seen),
// draws progress, ETA and loss/accuracy charts, shows the log, the final report and the export jobs.
(() => {
  "use strict";
  const root = document.getElementById("run");
  const runId = root.dataset.run;
  const FINAL = ["done", "failed", "cancelled", "interrupted"];
  let nextSeq = 0;
  let status = root.dataset.status;
  let closedForGood = false;
  let started = null; // {time, batchesDone} at the (re)start, for the ETA
  let epochs = null;
  let batchesPerEpoch = null;
  const logLines = [];

  const el = (tag, text, cls) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  };

  // Fixed-height boxes + maintainAspectRatio false: the charts never resize while points arrive.
  const chart = (id, label, series) => new Chart(document.getElementById(id), {
    type: "line",
    data: { labels: [], datasets: series.map(([name, color]) => ({ label: name, data: [], borderColor: color, backgroundColor: color, tension: 0.2 })) },
    options: { animation: false, responsive: true, maintainAspectRatio: false,
      scales: { x: { title: { display: true, text: "epoch" } }, y: { title: { display: true, text: label } } } },
  });
  const lossChart = chart("loss-chart", "loss per epoch", [["train loss", "#1f77b4"], ["val loss", "#ff7f0e"]]);
  const accChart = chart("acc-chart", "accuracy", [["train acc", "#2ca02c"], ["val acc", "#d62728"]]);
  // Loss of every training batch from the first one, so the first (long) epoch is not an empty chart.
  const batchChart = new Chart(document.getElementById("batch-chart"), {
    type: "line",
    data: { datasets: [{ label: "train loss per batch", data: [], borderColor: "#1f77b4", backgroundColor: "#1f77b4", pointRadius: 0, borderWidth: 1 }] },
    options: { animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      scales: { x: { type: "linear", title: { display: true, text: "epoch" } }, y: { title: { display: true, text: "batch loss" } } } },
  });
  const MAX_BATCH_POINTS = 2000; // keep every other point beyond this: the shape stays, the page stays fast

  function setStatus(value, error) {
    status = value;
    const badge = document.getElementById("status");
    badge.textContent = value;
    badge.className = `status status-${value}`;
    root.dataset.status = value;
    document.getElementById("run-error").textContent = error || "";
    document.getElementById("cancel-form").hidden = !["queued", "running"].includes(value);
    const text = document.getElementById("progress-text");
    if (value === "queued") text.textContent = "Waiting for a free worker…";
    else if (text.textContent.startsWith("Waiting")) text.textContent = value === "running" ? "Starting: reading the data…" : "—";
    document.getElementById("export-form").hidden = value !== "done";
    const hint = document.getElementById("export-hint");
    if (hint) hint.hidden = value === "done";
    if (value === "failed") showWorkerLog();
    if (FINAL.includes(value)) {
      document.getElementById("eta").textContent = "";
      loadReport();
      refreshFiles(); // also shows Resume when the run left a checkpoint
    } else {
      document.getElementById("resume-form").hidden = true;
    }
  }

  function appendLog(line) {
    logLines.push(line);
    if (logLines.length > 200) logLines.shift();
    const pre = document.getElementById("log");
    pre.textContent = logLines.join("\n");
    pre.scrollTop = pre.scrollHeight;
  }

  async function showWorkerLog() {
    const response = await fetch(`/api/runs/${encodeURIComponent(runId)}/log?lines=30`);
    if (!response.ok) return;
    (await response.json()).lines.forEach((line) => appendLog(`[worker] ${line}`));
  }

  const fmtSeconds = (s) => (s >= 90 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`);

  function onBatch(event) {
    const batches = event.batches || batchesPerEpoch || 1;
    // epochs and batches are counted from 1 in events (docs/architecture.md)
    const done = (event.epoch - 1) * batches + event.batch;
    const total = (epochs || event.epoch) * batches;
    const progress = document.getElementById("progress");
    progress.max = total;
    progress.value = done;
    document.getElementById("progress-text").textContent =
      `epoch ${event.epoch} / ${epochs ?? "?"} · batch ${event.batch} / ${batches} · loss ${event.loss.toFixed(4)}`;
    const points = batchChart.data.datasets[0].data;
    points.push({ x: event.epoch - 1 + event.batch / batches, y: event.loss });
    if (points.length > MAX_BATCH_POINTS) batchChart.data.datasets[0].data = points.filter((_, i) => i % 2 === 0);
    batchChart.update("none");
    if (event.samples_per_s) document.getElementById("speed").textContent = `${Math.round(event.samples_per_s)} samples/s`;
    if (!started) started = { time: event.time, done };
    else if (done > started.done && status === "running") {
      const rate = (event.time - started.time) / (done - started.done);
      document.getElementById("eta").textContent = `ETA ${fmtSeconds(rate * (total - done))} ·`;
    }
  }

  function onEpoch(event) {
    const label = String(event.epoch);
    for (const [c, a, b] of [[lossChart, event.train_loss, event.val_loss], [accChart, event.train_acc, event.val_acc]]) {
      let at = c.data.labels.indexOf(label); // a resumed run redoes an epoch: replace, do not repeat
      if (at < 0) { c.data.labels.push(label); at = c.data.labels.length - 1; }
      c.data.datasets[0].data[at] = a;
      c.data.datasets[1].data[at] = b;
      c.update("none");
    }
    appendLog(`epoch ${label}/${event.epochs}: train loss ${event.train_loss.toFixed(4)} acc ${(100 * event.train_acc).toFixed(1)} % · ` +
      `val loss ${event.val_loss.toFixed(4)} acc ${(100 * event.val_acc).toFixed(1)} % macro-F1 ${event.val_macro_f1.toFixed(3)} · ${event.seconds.toFixed(1)} s`);
  }

  function onEvent(event) {
    switch (event.type) {
      case "run_start":
        epochs = event.epochs;
        batchesPerEpoch = event.batches_per_epoch;
        started = null;
        if (status === "queued") setStatus("running");
        appendLog(`start: ${event.model}, ${event.labels.length} classes, ${event.epochs} epochs` +
          (event.resumed_from_epoch ? ` (resumed at epoch ${event.resumed_from_epoch})` : ""));
        break;
      case "batch_end": onBatch(event); break;
      case "epoch_end": onEpoch(event); break;
      case "embedding_epoch_end":
        appendLog(`embedding epoch ${event.epoch}/${event.epochs}: cosine to BirdNET ${event.cosine.toFixed(3)} · ${event.seconds.toFixed(1)} s`);
        break;
      case "log": appendLog(`[${event.level}] ${event.message}`); break;
      case "run_end":
        appendLog(`end: ${event.status}` + (event.best_val_acc != null ? `, best val acc ${(100 * event.best_val_acc).toFixed(1)} % at epoch ${event.best_epoch}` : "") +
          (event.error ? ` — ${event.error}` : ""));
        break;
      case "status": setStatus(event.status, event.error); break;
      case "error": appendLog(`error: ${event.message}`); break;
      default: break;
    }
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${proto}//${location.host}/ws/runs/${encodeURIComponent(runId)}?from=${nextSeq}`);
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (typeof event.seq === "number") {
        if (event.seq < nextSeq) return; // already seen before a reconnect
        nextSeq = event.seq + 1;
      }
      onEvent(event);
    };
    socket.onclose = (close) => {
      if (close.code === 4404 || close.code === 4400 || close.code === 1008) { closedForGood = true; return; }
      setTimeout(connect, 1000); // server restart or network blip: continue from nextSeq
    };
  }

  function cell(row, text, tag = "td", cls) { row.appendChild(el(tag, text, cls)); }

  async function loadReport() {
    const response = await fetch(`/api/runs/${encodeURIComponent(runId)}/report`);
    if (!response.ok) return;
    const report = await response.json();
    const warnings = document.getElementById("report-warnings");
    warnings.replaceChildren(...(report.warnings || []).map((w) => el("li", w)));
    if (report.complete === false) { // cancelled/failed: what the finished epochs show
      document.getElementById("report-summary").textContent =
        `${report.note}. Best val accuracy ${(100 * report.best_val_acc).toFixed(1)} % at epoch ${report.best_epoch}.`;
      document.getElementById("report-tables").hidden = true;
      document.getElementById("report").hidden = false;
      return;
    }
    if (report.multilabel) { // several labels per window: per-class AP/F1 at each threshold, PR curves
      showMultilabel(report);
      return;
    }
    document.getElementById("report-tables").hidden = false;
    const labels = report.labels || Object.keys(report.per_class || {});
    const perClass = report.per_class || {};
    const table = document.getElementById("per-class");
    table.replaceChildren();
    const head = table.insertRow();
    ["class", "precision", "recall", "F1", "support"].forEach((h) => cell(head, h, "th"));
    labels.forEach((label, i) => {
      const stats = Array.isArray(perClass) ? perClass[i] : perClass[label];
      if (!stats) return;
      const row = table.insertRow();
      cell(row, label);
      ["precision", "recall", "f1"].forEach((k) => cell(row, stats[k] != null ? stats[k].toFixed(3) : "", "td", "num"));
      cell(row, stats.support ?? "", "td", "num");
    });
    const matrix = report.confusion_matrix || [];
    const confusion = document.getElementById("confusion");
    confusion.replaceChildren();
    const top = confusion.insertRow();
    cell(top, "", "th");
    labels.forEach((label) => cell(top, label, "th"));
    matrix.forEach((values, i) => {
      const row = confusion.insertRow();
      cell(row, labels[i], "th");
      const total = values.reduce((a, b) => a + b, 0) || 1;
      values.forEach((v, j) => {
        const td = el("td", String(v), "num");
        td.style.background = `rgba(${i === j ? "44,160,44" : "214,39,40"}, ${(v / total).toFixed(2)})`;
        row.appendChild(td);
      });
    });
    const parts = [];
    if (report.accuracy != null) parts.push(`accuracy ${(100 * report.accuracy).toFixed(1)} %`);
    if (report.macro_f1 != null) parts.push(`macro-F1 ${report.macro_f1.toFixed(3)}`);
    // night cameras shoot monochrome IR: the same validation photos in grey
    if (report.grey_accuracy != null) parts.push(`grey (IR-like) accuracy ${(100 * report.grey_accuracy).toFixed(1)} %`);
    if (report.split) parts.push(`on the ${report.split} split`);
    document.getElementById("report-summary").textContent = parts.join(" · ");
    document.getElementById("report").hidden = false;
  }

  const figure = (value) => (value == null ? "–" : value.toFixed(3));

  /** report.json `multilabel` (docs/multilabel.md): one row per class and one precision-recall curve each. */
  function showMultilabel(report) {
    const section = report.multilabel;
    document.getElementById("report-tables").hidden = true;
    const table = document.getElementById("multilabel-table");
    table.replaceChildren();
    const head = table.insertRow();
    ["class", "AP", "AUROC", "F1", "precision", "recall", "threshold", "positives"].forEach((h) => cell(head, h, "th"));
    const labels = (report.labels || []).filter((label) => label in section.per_class);
    Object.keys(section.per_class).forEach((label) => { if (!labels.includes(label)) labels.push(label); });
    labels.forEach((label) => {
      const stats = section.per_class[label];
      const row = table.insertRow();
      row.dataset.label = label;
      cell(row, label);
      ["ap", "auroc", "f1", "precision", "recall", "threshold"].forEach((k) => cell(row, figure(stats[k]), "td", "num"));
      cell(row, stats.support ?? "", "td", "num");
    });
    const curves = section.pr_curves || {};
    const previous = Chart.getChart("pr-chart");
    if (previous) previous.destroy();
    new Chart(document.getElementById("pr-chart"), {
      type: "line",
      data: {
        datasets: labels.filter((label) => curves[label]).map((label) => ({
          label: `${label} (AP ${figure(section.per_class[label].ap)})`,
          data: curves[label].recall.map((recall, i) => ({ x: recall, y: curves[label].precision[i] })),
          pointRadius: 0,
          borderWidth: 2,
        })),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          x: { type: "linear", min: 0, max: 1, title: { display: true, text: "recall" } },
          y: { min: 0, max: 1, title: { display: true, text: "precision" } },
        },
      },
    });
    document.getElementById("multilabel").hidden = false;
    const rule = section.threshold_rule === "target_precision"
      ? `thresholds for precision ${figure(section.target_precision)}` : "thresholds for the best F1";
    const parts = [`mAP ${figure(section.map)}`, `${labels.length} classes, several per window`, rule];
    if (report.split) parts.push(`on the ${report.split} split`);
    document.getElementById("report-summary").textContent = parts.join(" · ");
    document.getElementById("report").hidden = false;
  }

  async function refreshFiles() {
    const response = await fetch(`/api/runs/${encodeURIComponent(runId)}`);
    if (!response.ok) return;
    const run = await response.json();
    document.getElementById("resume-form").hidden = !run.resumable;
    const list = document.getElementById("run-files");
    list.replaceChildren();
    run.files.forEach((f) => {
      const li = el("li");
      const a = el("a", f.name + (f.folder ? ".zip" : ""));
      a.href = `/runs/${encodeURIComponent(runId)}/files/${encodeURIComponent(f.name)}`;
      a.setAttribute("download", "");
      li.append(a, " ", el("small", `${(f.size_bytes / 1024).toFixed(1)} KB`));
      list.appendChild(li);
    });
  }

  const fixed = (value, digits, suffix = "") => (value == null ? "–" : `${Number(value).toFixed(digits)}${suffix}`);

  // One row per exported file: what the export measured (size, parity, gate) joined with the benchmark.
  function resultsView(job) {
    const results = job.results;
    const box = el("div", null, "results");
    box.appendChild(el("h4", "Results per file" + (results.bench_threads ? ` (latency: batch 1, ${results.bench_threads} thread)` : " (benchmark it for latency and accuracy)")));
    const scroll = el("div", null, "scroll");
    const table = el("table", null, "results compact");
    const head = table.insertRow();
    ["file", "format", "precision", "MB", "p50 ms", "p95 ms", "accuracy", "INT8 drop", "parity max|Δp|", "top-1 agree", "gate"]
      .forEach((h) => cell(head, h, "th"));
    results.rows.forEach((row) => {
      const tr = table.insertRow();
      tr.dataset.format = row.format;
      tr.dataset.precision = row.precision;
      cell(tr, row.file || "–");
      cell(tr, row.format);
      cell(tr, row.precision);
      cell(tr, fixed(row.size_mb, 2), "td", "num");
      cell(tr, fixed(row.p50_ms, 2), "td", "num");
      cell(tr, fixed(row.p95_ms, 2), "td", "num");
      cell(tr, row.accuracy == null ? "–" : `${(100 * row.accuracy).toFixed(1)} %`, "td", "num");
      cell(tr, row.int8_drop_points == null ? "–" : `${row.int8_drop_points.toFixed(1)} pt`, "td", "num");
      cell(tr, row.parity_max_abs_diff == null ? (row.parity_note || "–") : row.parity_max_abs_diff.toExponential(1), "td", "num");
      cell(tr, row.parity_top1 == null ? "–" : `${(100 * row.parity_top1).toFixed(1)} %`, "td", "num");
      cell(tr, row.gate, "td", row.gate.startsWith("rejected") ? "bad" : row.gate === "passed" ? "ok" : "");
    });
    scroll.appendChild(table);
    box.appendChild(scroll);
    const c = results.calibration;
    if (c) {
      box.appendChild(el("p", c.threshold == null
        ? `No edge threshold recommended (target ${(100 * c.target_accuracy).toFixed(0)} % accuracy, ${c.windows} validation windows).`
        : `Edge threshold ${c.threshold.toFixed(2)}: ${(100 * c.edge_share).toFixed(0)} % of windows stay on the phone at ` +
          `${(100 * c.accuracy_at_threshold).toFixed(1)} % accuracy; the rest go to the server (from ${c.windows} validation windows).`, "threshold"));
    }
    if (results.warnings.length) {
      const list = el("ul", null, "warnings");
      results.warnings.forEach((w) => list.appendChild(el("li", w)));
      box.appendChild(list);
    }
    if (results.bench_png && job.bench_id) {
      const img = el("img", null, "bench");
      img.alt = "benchmark chart";
      img.src = `/exports/${encodeURIComponent(job.bench_id)}/files/bench.png`;
      box.appendChild(img);
    }
    return box;
  }

  async function refreshExports() {
    const response = await fetch(`/api/runs/${encodeURIComponent(runId)}/exports`);
    if (!response.ok) return;
    const jobs = await response.json();
    const box = document.getElementById("export-list");
    box.replaceChildren();
    jobs.forEach((job) => {
      const card = el("div", null, "export-job");
      card.dataset.export = job.id;
      card.dataset.status = job.status;
      const title = job.kind === "export"
        ? `${job.id}: ${job.options.formats.join(", ")}${job.options.int8 ? " + INT8" : ""}`
        : `${job.id}: benchmark of ${job.options.export_id}`;
      card.append(el("strong", title), " ", el("span", job.status, `status status-${job.status}`));
      if (job.error) card.append(" ", el("small", job.error, "bad"));
      if (job.log_tail) card.append(el("pre", job.log_tail));
      const files = el("ul");
      job.files.forEach((f) => {
        const li = el("li");
        const a = el("a", f.name + (f.folder ? ".zip" : ""));
        a.href = `/exports/${encodeURIComponent(job.id)}/files/${encodeURIComponent(f.name)}`;
        a.setAttribute("download", "");
        li.append(a, " ", el("small", `${(f.size_bytes / 1024).toFixed(1)} KB`));
        files.appendChild(li);
      });
      card.appendChild(files);
      if (job.results) card.appendChild(resultsView(job));
      if (job.kind === "export" && job.status === "done") {
        const form = el("form");
        form.method = "post";
        form.action = `/exports/${encodeURIComponent(job.id)}/bench`;
        form.appendChild(el("button", "Benchmark"));
        card.appendChild(form);
      }
      box.appendChild(card);
    });
    const active = jobs.some((job) => ["queued", "running"].includes(job.status));
    setTimeout(refreshExports, active ? 1000 : 5000);
  }

  // Resume without leaving the page: the WebSocket keeps streaming the resumed worker's events.
  document.getElementById("resume-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch(`/api/runs/${encodeURIComponent(runId)}/resume`, { method: "POST" });
    const body = await response.json();
    if (!response.ok) { appendLog(`resume refused: ${body.detail}`); return; }
    started = null;
    setStatus(body.status, body.error);
  });

  if (FINAL.includes(status)) { loadReport(); }
  refreshExports();
  connect();
})();
