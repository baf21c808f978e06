// The Search page: every 5 s, each study's table, winner and plot are read again, so trials appear as they end.
(function () {
  const fixed = (value, digits) => (value === null || value === undefined ? "" : Number(value).toFixed(digits));

  function cell(text, numeric) {
    const td = document.createElement("td");
    if (numeric) td.className = "num";
    td.textContent = text;
    return td;
  }

  function render(section, study) {
    const body = section.querySelector("tbody");
    body.replaceChildren(
      ...study.trials.map((t) => {
        const row = document.createElement("tr");
        row.dataset.trial = t.trial;
        const budget = t.within_budget === null ? "" : t.within_budget ? "yes" : "no";
        row.append(cell(t.trial), cell(t.state), cell(fixed(t.macro_f1, 3), true), cell(fixed(t.latency_p50_ms, 2), true),
          cell(fixed(t.size_mb, 3), true), cell(t.int8_gate || ""), cell(budget), cell(t.on_front ? "*" : ""));
        return row;
      })
    );
    const winner = section.querySelector(".winner");
    if (study.winner) {
      const w = study.winner;
      winner.textContent = `Winner: trial ${w.trial}, macro-F1 ${fixed(w.macro_f1, 3)}, ${fixed(w.latency_p50_ms, 2)} ms, ${fixed(w.size_mb, 3)} MB `;
      if (study.winner_run) {
        const link = document.createElement("a");
        link.className = "button";
        link.href = `/runs/${encodeURIComponent(study.winner_run)}`;
        link.textContent = "Open the winning run";
        winner.append(link);
      }
    }
    const confirmation = section.querySelector(".confirmation");
    if (study.confirmation) {
      const c = study.confirmation;
      confirmation.textContent = `Confirmed on seeds ${c.seeds.join(", ")}: macro-F1 ` +
        `${c.macro_f1.map((v) => fixed(v, 3)).join(" / ")} (mean ${fixed(c.mean_macro_f1, 3)}).`;
    } else if (study.confirmed_candidates) {
      confirmation.textContent = "No confirmed trial held the budget on every seed: the winner is one seed's figure.";
    } else {
      confirmation.textContent = "";
    }
    const plot = section.querySelector("img.front");
    plot.src = `/studies/${encodeURIComponent(study.name)}/pareto.png?t=${Date.now()}`;
  }

  async function refresh() {
    for (const section of document.querySelectorAll("[data-study]")) {
      try {
        const response = await fetch(`/api/studies/${encodeURIComponent(section.dataset.study)}`);
        if (response.ok) render(section, await response.json());
      } catch (error) {
        // the server restarting: try again at the next tick
      }
    }
  }

  setInterval(refresh, 5000);
})();
