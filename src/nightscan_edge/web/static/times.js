// Show unix times in the viewer's local time.
document.querySelectorAll("time[data-unix]").forEach((el) => {
  el.textContent = new Date(Number(el.dataset.unix) * 1000).toLocaleString();
});
