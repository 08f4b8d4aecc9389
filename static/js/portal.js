/* Partner Portal: the little the pages need beyond htmx. Every page works without it. */

/* Copy buttons: <button data-copy="#id" hidden>, next to a value shown once
   (templates/tenants/_token_issued.html). Hidden until this script can make them work. */
function showCopyButtons(root) {
  root.querySelectorAll("button[data-copy][hidden]").forEach((button) => { button.hidden = false; });
}

document.addEventListener("DOMContentLoaded", () => showCopyButtons(document));
document.addEventListener("htmx:load", (event) => showCopyButtons(event.detail.elt));

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  if (!field) return;
  const done = () => {
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  };
  field.select();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, () => { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});

/* The support banner's countdown (templates/tenants/_support_banner.html): data-countdown holds
   the seconds left when the page was made (rounded up), so a skewed client clock does not matter.
   A second after zero the page reloads and the server, finding the session over, ends it and
   says so. */
function startCountdowns(root) {
  root.querySelectorAll("[data-countdown]").forEach((element) => {
    if (element.dataset.counting) return;
    element.dataset.counting = "1";
    const deadline = Date.now() + Number(element.dataset.countdown) * 1000;
    const tick = () => {
      const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      const minutes = Math.floor(left / 60);
      const seconds = String(left % 60).padStart(2, "0");
      element.textContent = `${minutes}:${seconds}`;
      if (left === 0) {
        clearInterval(timer);
        setTimeout(() => window.location.reload(), 1000);
      }
    };
    const timer = setInterval(tick, 1000);
    tick();
  });
}

document.addEventListener("DOMContentLoaded", () => startCountdowns(document));
document.addEventListener("htmx:load", (event) => startCountdowns(event.detail.elt));
