// Small progressive enhancements for the console; every page works without them.
document.addEventListener("click", function (event) {
  const target = event.target.closest("[data-confirm]");
  if (target && !window.confirm(target.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
document.addEventListener("change", function (event) {
  if (event.target.matches("[data-check-all]")) {
    const scope = event.target.closest("form") || document;
    scope.querySelectorAll("input[name='" + event.target.getAttribute("data-check-all") + "']")
      .forEach(function (box) { box.checked = event.target.checked; });
  }
});
