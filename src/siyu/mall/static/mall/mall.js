// Small enhancements for the H5 mall; every page also works without JavaScript.
(function () {
  // "Get code" countdown: the server says how long to wait in data-wait (seconds).
  function startCountdown(button) {
    var wait = parseInt(button.getAttribute("data-wait") || "0", 10);
    if (!wait) return;
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.disabled = true;
    var timer = setInterval(function () {
      wait -= 1;
      if (wait <= 0) {
        clearInterval(timer);
        button.disabled = false;
        button.textContent = label;
        button.removeAttribute("data-wait");
      } else {
        button.textContent = label + " (" + wait + "s)";
      }
    }, 1000);
    button.textContent = label + " (" + wait + "s)";
  }
  function scan(root) {
    (root || document).querySelectorAll("[data-wait]").forEach(startCountdown);
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  // The server answers "send code" with HX-Trigger: {"codeSent": {"wait": 60}}.
  document.addEventListener("codeSent", onCodeSent);
  function onCodeSent(event) {
    var button = document.querySelector("[data-testid=send-code]");
    if (!button || !event.detail || !event.detail.wait) return;
    button.setAttribute("data-wait", String(event.detail.wait));
    startCountdown(button);
    var code = document.getElementById("code");
    if (code) code.focus();
  }

  // Quantity steppers: <div class="stepper"><button data-step="-1">…<input>…<button data-step="1">
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-step]");
    if (!button) return;
    event.preventDefault();
    var input = button.parentElement.querySelector("input");
    var min = parseInt(input.min || "1", 10);
    var max = parseInt(input.max || "999", 10);
    var value = (parseInt(input.value, 10) || min) + parseInt(button.getAttribute("data-step"), 10);
    input.value = Math.max(min, Math.min(max, value));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-confirm]");
    if (target && !window.confirm(target.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Server events (HX-Trigger): a short toast, and the cart badge count.
  function toast(message, level) {
    var box = document.createElement("div");
    box.className = "toast" + (level === "error" ? " toast-error" : "");
    box.setAttribute("role", "status");
    box.setAttribute("data-testid", "toast");
    box.textContent = message;
    document.body.appendChild(box);
    setTimeout(function () { box.remove(); }, 2500);
  }
  document.addEventListener("toast", function (event) {
    if (event.detail && event.detail.message) toast(event.detail.message, event.detail.level);
  });
  document.addEventListener("cartChanged", function (event) {
    var count = event.detail ? event.detail.count : 0;
    document.querySelectorAll("[data-cart-badge]").forEach(function (badge) {
      badge.textContent = count;
      badge.hidden = !count;
    });
  });
})();
