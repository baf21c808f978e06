// New-run form: keeps the "changes from the preset" list and the changed-field marks up to date as you type.
(() => {
  "use strict";
  const list = document.getElementById("preset-diff");
  const same = document.getElementById("preset-same");
  const valueOf = (field) => {
    const box = field.querySelector("input[type=checkbox]");
    if (box) return box.checked ? "True" : "False";
    const input = field.querySelector("input, select");
    return input ? input.value : "";
  };
  const normalise = (text) => (text === "true" ? "True" : text === "false" ? "False" : text);
  function refresh() {
    const items = [];
    document.querySelectorAll(".field[data-preset]").forEach((field) => {
      const value = valueOf(field);
      const changed = normalise(value) !== normalise(field.dataset.preset);
      field.classList.toggle("changed", changed);
      if (changed) {
        const item = document.createElement("li");
        item.dataset.diff = field.dataset.field;
        item.textContent = `${field.dataset.label}: ${field.dataset.preset || "(none)"} → ${value || "(none)"}`;
        items.push(item);
      }
    });
    list.replaceChildren(...items);
    same.hidden = items.length > 0;
  }
  document.getElementById("new-run").addEventListener("input", refresh);
  document.getElementById("new-run").addEventListener("change", refresh);
  refresh();
})();
