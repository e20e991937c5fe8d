// The board's only script (htmx-style, no dependencies): every element with
// data-refresh="N" is re-fetched every N seconds from the page's own URL with the
// X-Fragment header, and its content replaced by the answer: a live board without a reload.
// Forms marked data-autosubmit submit when a field changes, so every filter is a URL.
(function () {
  "use strict";

  function refresh(element) {
    var seconds = parseInt(element.getAttribute("data-refresh"), 10);
    if (!(seconds > 0)) {
      return;
    }
    var busy = false;
    window.setInterval(function () {
      if (busy || document.hidden) {
        return;
      }
      busy = true;
      fetch(window.location.pathname + window.location.search, {
        headers: { "X-Fragment": element.id },
        credentials: "same-origin",
        cache: "no-store",
      })
        .then(function (response) {
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html !== null) {
            element.innerHTML = html;
            element.setAttribute("data-refreshed-at", new Date().toISOString());
          }
        })
        .catch(function () {})
        .then(function () {
          busy = false;
        });
    }, seconds * 1000);
  }

  function autosubmit(form) {
    form.addEventListener("change", function () {
      var data = new FormData(form);
      var params = new URLSearchParams();
      data.forEach(function (value, key) {
        if (value !== "") {
          params.append(key, value);
        }
      });
      var query = params.toString();
      window.location.assign(form.getAttribute("action") + (query ? "?" + query : ""));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(refresh);
    document.querySelectorAll("form[data-autosubmit]").forEach(autosubmit);
  });
})();
