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
/* Branding page (templates/tenants/account_branding.html): a live preview of the name, colours
   and logo. The same arithmetic as tenants/branding/brand.py, so the preview shows what the
   pages will: text on the primary colour is white or near black, whichever contrasts more;
   links are the primary colour darkened until they read on white (4.5:1). */
const brandColours = (() => {
  const channels = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const toHex = (parts) => "#" + parts.map((p) => Math.max(0, Math.min(255, Math.round(p))).toString(16).padStart(2, "0")).join("");
  const luminance = (hex) => {
    const [r, g, b] = channels(hex).map((c) => { const v = c / 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (a, b) => { const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x); return (hi + 0.05) / (lo + 0.05); };
  const mix = (hex, other, w) => { const o = channels(other); return toHex(channels(hex).map((c, i) => c + (o[i] - c) * w)); };
  const textOn = (bg) => (contrast("#ffffff", bg) >= contrast("#111827", bg) ? "#ffffff" : "#111827");
  const linkOf = (hex) => {
    let candidate = hex;
    for (let step = 1; step <= 20 && contrast(candidate, "#ffffff") < 4.5; step++) candidate = mix(hex, "#000000", step * 0.05);
    return candidate;
  };
  return { contrast, textOn, linkOf };
})();

function updateBrandPreview(form) {
  const preview = document.querySelector("[data-brand-preview]");
  if (!preview) return;
  const value = (name) => { const input = form.querySelector(`[data-brand-input=${name}]`); return input ? input.value : ""; };
  const primary = value("primary").toLowerCase();
  const accent = value("accent").toLowerCase();
  if (/^#[0-9a-f]{6}$/.test(primary)) {
    const text = brandColours.textOn(primary);
    preview.style.setProperty("--pv-primary", primary);
    preview.style.setProperty("--pv-on-primary", text);
    preview.style.setProperty("--pv-link", brandColours.linkOf(primary));
    preview.querySelector("[data-preview-text]").textContent = text === "#ffffff" ? "white" : "dark";
    preview.querySelector("[data-preview-contrast]").textContent = brandColours.contrast(text, primary).toFixed(1);
  }
  if (/^#[0-9a-f]{6}$/.test(accent)) preview.style.setProperty("--pv-accent", accent);
  preview.querySelector("[data-preview-name]").textContent = value("name") || "\u00a0";
}

document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("[data-brand-form]").forEach(updateBrandPreview));
document.addEventListener("input", (event) => {
  const form = event.target.closest("[data-brand-form]");
  if (form) updateBrandPreview(form);
});
document.addEventListener("change", (event) => {
  const input = event.target.closest("[data-brand-input=logo]");
  const logo = document.querySelector("[data-preview-logo]");
  if (!input || !logo || !input.files || !input.files[0]) return;
  if (logo.src.startsWith("blob:")) URL.revokeObjectURL(logo.src);
  logo.src = URL.createObjectURL(input.files[0]);
  logo.hidden = false;
  const mark = document.querySelector("[data-preview-mark]");
  if (mark) mark.hidden = true;
});
