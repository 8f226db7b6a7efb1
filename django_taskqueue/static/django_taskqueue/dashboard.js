/* The queues dashboard keeps its figures fresh: every few seconds it fetches the server-
   rendered fragment (the same template as the page) and swaps it in, without reloading the
   page. A button pauses and resumes this. No inline handlers, so a strict CSP allows it. */
"use strict";

(function () {
  function start() {
    const live = document.getElementById("tq-live");
    const bar = document.getElementById("tq-refresh");
    const toggle = document.getElementById("tq-refresh-toggle");
    const status = document.getElementById("tq-refresh-status");
    if (!live || !bar || !toggle || !status) {
      return;
    }
    const delay = (Number(live.dataset.refreshSeconds) || 5) * 1000;
    let paused = false;
    let timer = null;

    function say(state) {
      status.textContent = status.dataset[state];
    }

    function schedule(wait) {
      clearTimeout(timer);
      timer = paused ? null : setTimeout(refresh, wait);
    }

    async function refresh() {
      // A form control the operator is using (a queue's Pause button) is not swapped away.
      const busy = live.contains(document.activeElement) && document.activeElement !== live;
      if (!document.hidden && !busy) {
        try {
          const response = await fetch(live.dataset.url, {
            credentials: "same-origin",
            headers: { "X-Requested-With": "XMLHttpRequest" },
          });
          // A redirect means the session ended: that page is the login form, not figures.
          if (!response.ok || response.redirected) {
            throw new Error(`HTTP ${response.status}`);
          }
          const html = await response.text();
          if (!paused) {
            live.innerHTML = html;
            say("running");
          }
        } catch (error) {
          say("failed");
        }
      }
      schedule(delay);
    }

    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.setAttribute("aria-pressed", String(paused));
      toggle.textContent = paused ? toggle.dataset.resume : toggle.dataset.pause;
      say(paused ? "paused" : "running");
      schedule(paused ? 0 : delay / 5);
    });

    bar.hidden = false;
    say("running");
    schedule(delay);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
