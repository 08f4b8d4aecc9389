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
