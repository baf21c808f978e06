// Compare page: every chosen run's validation curves on one pair of charts (epochs counted from 1).
(() => {
  "use strict";
  const source = document.getElementById("compare-data");
  if (!source) return;
  const runs = JSON.parse(source.textContent);
  const palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  const draw = (id, key, title) => new Chart(document.getElementById(id), {
    type: "line",
    data: { datasets: runs.map((run, i) => ({
      label: `${run.model} · ${run.id}`, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length],
      data: run.curves.map((row) => ({ x: row.epoch, y: row[key] })),
    })) },
    options: { animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      scales: { x: { type: "linear", title: { display: true, text: "epoch" }, ticks: { precision: 0 } },
                y: { title: { display: true, text: title } } } },
  });
  draw("compare-acc", "val_acc", "validation accuracy");
  draw("compare-loss", "val_loss", "validation loss");
})();
